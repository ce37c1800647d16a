"""``callrouter notices``: check, install and add health notices; hear how a text is read."""

from __future__ import annotations

import getpass
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import click

from callrouter.asterisk import contract
from callrouter.asterisk.prompts import DEFAULT_SOUNDS_DIR
from callrouter.errors import NoticeError
from callrouter.notices.board import NoticeSet, prepare, write_includes
from callrouter.notices.config import Audience, load_notices
from callrouter.notices.edit import NoticeDraft, NoticesEditor
from callrouter.notices.normalise import Normaliser
from callrouter.notices.speech import check_wav, speak
from callrouter.settings import Settings


def _file(path: Path | None) -> Path:
    found = path or Settings().notices_path
    if found is None:
        raise click.UsageError(
            "chưa có tệp thông báo: đưa tên tệp, hoặc đặt CALLROUTER_NOTICES_PATH"
        )
    return found


def _show(ready: NoticeSet, now: datetime) -> None:
    tz = ready.file.tz
    for r in ready.ready:
        start, end = r.notice.window(tz)
        state = "đang phát" if start <= now < end else ("hết hạn" if end <= now else "chưa đến")
        click.echo(
            f"{r.notice.id}: {state}, {start:%d/%m/%Y %H:%M} → {end:%d/%m/%Y %H:%M}, "
            f"người nghe {r.notice.audience.value}, dài {r.seconds:.1f} giây"
        )
        if r.spoken is not None:
            click.echo(f"  đọc: {r.spoken}")
    for problem in ready.problems:
        click.echo(f"KHÔNG PHÁT: {problem}", err=True)


@click.group("notices")
def notices() -> None:
    """Thông báo y tế phát cho người gọi trong lúc chờ cán bộ nghe máy."""


@notices.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def check_command(path: Path | None) -> None:
    """Kiểm tra tệp thông báo: cú pháp (tệp:dòng), đọc thử, độ dài khi đọc thành tiếng."""
    source = _file(path)
    try:
        notices_file = load_notices(source)
    except NoticeError as exc:
        raise click.ClickException(str(exc)) from None
    with tempfile.TemporaryDirectory(prefix="callrouter-notices-") as tmp:
        ready = prepare(notices_file, source.parent, Path(tmp))
    _show(ready, datetime.now(UTC))
    if ready.problems:
        raise SystemExit(1)


@notices.command("install")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def install_command(path: Path | None) -> None:
    """Đọc các thông báo thành tệp âm thanh cho Asterisk và ghi các tệp include (như serve)."""
    settings = Settings()
    source = _file(path)
    try:
        notices_file = load_notices(source)
    except NoticeError as exc:
        raise click.ClickException(str(exc)) from None
    sounds = settings.notices_sounds_dir or settings.sounds_dir or DEFAULT_SOUNDS_DIR
    ready = prepare(notices_file, source.parent, sounds, settings.prompt_folder)
    etc = settings.dialplan_include.parent
    write_includes(ready, etc, folder=settings.prompt_folder)
    _show(ready, datetime.now(UTC))
    click.echo(
        f"Đã ghi {etc / contract.NOTICES_INCLUDE_FILENAME} và "
        f"{etc / contract.NOTICES_MOH_FILENAME}; chạy: "
        'asterisk -rx "dialplan reload" && asterisk -rx "moh reload"'
    )
    if ready.problems:
        raise SystemExit(1)


@notices.command("add")
@click.option("--id", "notice_id", required=True, help="Mã thông báo (chữ không dấu, số, - _).")
@click.option("--text", required=True, help="Nội dung đọc cho người gọi.")
@click.option("--from", "valid_from", required=True, metavar="YYYY-MM-DD[ HH:MM]")
@click.option("--until", "valid_until", required=True, metavar="YYYY-MM-DD[ HH:MM]")
@click.option(
    "--audience",
    type=click.Choice([a.value for a in Audience]),
    default=Audience.WAITING.value,
    show_default=True,
)
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path))
def add_command(  # noqa: PLR0917 - one parameter per click option
    notice_id: str,
    text: str,
    valid_from: str,
    valid_until: str,
    audience: str,
    path: Path | None,
) -> None:
    """Thêm một thông báo vào tệp; tệp chỉ được ghi khi cả tệp mới hợp lệ và đọc được
    (cùng cách kiểm tra với trang web; thay đổi được ghi vào nhật ký bên cạnh tệp)."""
    settings = Settings()
    target = _file(path)
    editor = NoticesEditor(
        target,
        sounds_dir=settings.notices_sounds_dir or settings.sounds_dir,
        folder=settings.prompt_folder,
    )
    draft = NoticeDraft(notice_id, text, valid_from, valid_until, audience)
    try:
        saved = editor.save(
            "add", draft, expected=None, account=f"cli:{getpass.getuser()}", now=datetime.now(UTC)
        )
    except NoticeError as exc:
        raise click.ClickException(str(exc)) from None
    for warning in saved.checked.warnings:
        click.echo(f"CẢNH BÁO: {warning}", err=True)
    click.echo(f"Đã thêm thông báo {notice_id} vào {target}; serve sẽ nạp lại trong vài giây.")


@notices.command("say")
@click.argument("text")
@click.option(
    "--wav", type=click.Path(dir_okay=False, path_type=Path), help="Ghi tiếng đọc ra tệp."
)
@click.option("--max-seconds", default=30.0, show_default=True)
def say_command(text: str, wav: Path | None, max_seconds: float) -> None:
    """Cho biết một câu sẽ được đọc thế nào (số, ngày, chữ viết tắt)."""
    spoken = Normaliser()(text)
    click.echo(spoken)
    if wav is not None:
        try:
            speak(spoken, wav)
            info = check_wav(wav, max_seconds)
        except NoticeError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{wav}: {info.seconds:.1f} giây")
