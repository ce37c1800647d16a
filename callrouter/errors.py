"""One exception hierarchy for callrouter.

::

    CallrouterError
    ├── ConfigError                 settings that cannot work (bad URL, missing secret)
    ├── RotaError
    │   └── RotaValidationError     a rota file that is not valid (carries every problem found)
    ├── StoreError
    │   ├── DatabaseUnavailable     the database cannot be reached or refuses our credentials
    │   ├── RecordError             a malformed record handed to the call log (caller's bug)
    │   └── SpoolError              the write-ahead spool cannot be written
    ├── AsteriskError
    │   ├── AsteriskUnavailable     ARI/AMI/AGI cannot be reached
    │   └── AriRequestError         ARI answered a request with an error status
    │       ├── AriNotFound         404: the channel/bridge is gone (often: the caller hung up)
    │       └── AriConflict         409: the resource is in the wrong state
    ├── ReportError                 a report that cannot be produced or merged
    ├── CaseError                   a citizen's case (hỏi đáp, phản ánh, kiến nghị) refused
    │   ├── CaseConfigError         a topics/agencies file that is not valid (every problem)
    │   ├── CaseInputError          a value outside the configured lists or over its bound
    │   ├── CaseTransitionError     a status change the lifecycle forbids
    │   └── CaseConflict            the case was changed by someone else meanwhile
    └── NoticeError                 a health notice refused
        ├── NoticeFileError         a notices file that is not valid (every problem, file:line)
        └── NoticeSoundError        a notice's sound Asterisk cannot play (format, length, silence)
"""

from __future__ import annotations


class CallrouterError(Exception):
    """Base of every error callrouter raises on purpose."""


class ConfigError(CallrouterError):
    """Settings that cannot work."""


class RotaError(CallrouterError):
    """Anything wrong with a rota file."""


class RotaValidationError(RotaError):
    """A rota file that failed validation; ``problems`` lists every problem found."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(f"{path}: {len(self.problems)} problem(s)\n" + "\n".join(self.problems))


class StoreError(CallrouterError):
    """Anything wrong with the call log store."""


class DatabaseUnavailable(StoreError):
    """The database cannot be reached or refuses the configured credentials."""


class RecordError(StoreError, ValueError):
    """A malformed record handed to the call log."""


class SpoolError(StoreError):
    """The write-ahead spool cannot be written."""


class AsteriskError(CallrouterError):
    """Anything wrong talking to Asterisk."""


class AsteriskUnavailable(AsteriskError):
    """Asterisk (ARI, AMI or AGI peer) cannot be reached."""


class AriRequestError(AsteriskError):
    """ARI answered a REST request with an error status."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.message = message
        super().__init__(f"ARI {method} {path} -> {status}: {message}")


class AriNotFound(AriRequestError):
    """404: the channel or bridge is gone."""


class AriConflict(AriRequestError):
    """409: the resource is in a state that does not allow the request."""


class ReportError(CallrouterError):
    """A report that cannot be produced or merged."""


class CaseError(CallrouterError):
    """Anything refused about a citizen's case."""


class CaseConfigError(CaseError):
    """A cases configuration file that failed validation; ``problems`` lists every one."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(f"{path}: {len(self.problems)} problem(s)\n" + "\n".join(self.problems))


class CaseInputError(CaseError, ValueError):
    """A value outside the configured lists (topic, agency, kind) or over its bound."""


class CaseTransitionError(CaseError, ValueError):
    """A status change the case lifecycle forbids (the message says which are allowed)."""


class CaseConflict(CaseError):
    """Someone saved the case after it was read: nothing was written, the input is kept."""


class AnswerFileError(CallrouterError):
    """Answer book files that failed validation; ``problems`` lists every one (file:line)."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(f"{path}: {len(self.problems)} problem(s)\n" + "\n".join(self.problems))


class NoticeError(CallrouterError):
    """A health notice for callers that cannot be used."""


class NoticeFileError(NoticeError):
    """A notices file that failed validation; ``problems`` lists every one (file:line)."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__(f"{path}: {len(self.problems)} problem(s)\n" + "\n".join(self.problems))


class NoticeSoundError(NoticeError):
    """A notice's sound that Asterisk could not play as it is (the message says what it needs),
    or text the speech engine could not say."""
