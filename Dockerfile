# syntax=docker/dockerfile:1
# callrouter images, multi-stage. Targets:
#   (default)  callrouter   the router + admin web, non-root, on a pinned Python base
#   asterisk                Asterisk 22 with the shipped dialplan and Vietnamese prompts, built
#                           the way scripts/asterisk-sandbox builds the test PBX (same Debian
#                           packages, prompts rendered with espeak-ng + sox, 8 kHz mono WAV)
# compose.yaml builds both: `docker compose build`.
# The lint test (tests/unit/test_ops_files.py) runs hadolint on this file.
#
# The base images are build arguments, today's registry names by default; a machine without a
# registry builds them locally (debootstrap + podman import) and passes their names:
# scripts/containers does both (docs/operator-guide.md, section "Containers").
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm
ARG ASTERISK_BASE_IMAGE=debian:sid-slim

# --------------------------------------------------------------------------- build (wheel)
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY callrouter ./callrouter
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt .

# --------------------------------------------------------------------------- asterisk
# Asterisk 22 is packaged in Debian sid only (like the sandbox's debootstrap of sid), and sid
# moves daily: there are no package versions worth pinning here.
FROM ${ASTERISK_BASE_IMAGE} AS asterisk
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# A fixed uid/gid for the asterisk user (the package keeps an existing one), so files in the
# volumes shared with callrouter have stable owners.
# hadolint ignore=DL3008
RUN groupadd --system --gid 10023 asterisk \
 && useradd --system --uid 10023 --gid 10023 --home-dir /var/lib/asterisk --no-create-home \
      asterisk \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      asterisk asterisk-modules asterisk-config asterisk-core-sounds-en \
      asterisk-moh-opsound-wav espeak-ng sox \
 && rm -rf /var/lib/apt/lists/*
COPY dialplan/prompts/vi.txt /tmp/prompts-vi.txt
RUN mkdir -p /usr/share/asterisk/sounds/vi/callrouter \
 && grep -v '^[[:space:]]*#' /tmp/prompts-vi.txt | grep '|' \
  | while IFS='|' read -r name text; do \
      name="$(echo "$name" | xargs)"; \
      printf '%s' "$text" > /tmp/prompt.txt; \
      espeak-ng -v vi -s 150 -f /tmp/prompt.txt -w /tmp/prompt.raw.wav; \
      sox /tmp/prompt.raw.wav -r 8000 -c 1 -b 16 "/usr/share/asterisk/sounds/vi/callrouter/${name}.wav"; \
    done \
 && rm -f /tmp/prompt.txt /tmp/prompt.raw.wav /tmp/prompts-vi.txt
# The shipped dialplan, verbatim; ari.conf, http.conf, pjsip.conf are samples an operator
# replaces with mounted files (compose.yaml) because they carry passwords.
COPY dialplan/extensions_callrouter.conf dialplan/modules.conf dialplan/cdr_custom.conf \
     dialplan/ari.conf dialplan/http.conf dialplan/rtp.conf \
     dialplan/pjsip.conf /etc/asterisk/
# manager.conf is no file of the image: the entrypoint writes it at every start from this
# template (no secret in it) and the secret file (compose secret `ami-password`); no secret
# file, no start.
COPY dialplan/manager.conf /usr/share/callrouter/manager.conf.in
COPY scripts/asterisk-entrypoint /usr/local/bin/asterisk-entrypoint
# callrouter writes the fallback include (the registered numbers from the rota) and the health
# notices' includes (dialplan + music classes) into a volume both containers share; the shipped
# dialplan and musiconhold.conf #tryinclude them. The notices' sounds come through another
# shared volume (compose.yaml `notice-sounds`).
# /var/run/asterisk (the control socket) is made here: no systemd-tmpfiles in a container.
# The recordings and CDR directories are group-writable for the asterisk group, which the
# callrouter container joins (compose.yaml group_add): db purge / privacy erase delete there.
RUN printf '[general]\n\n[globals]\n\n#include extensions_callrouter.conf\n' \
      > /etc/asterisk/extensions.conf \
 && mkdir -p /var/lib/callrouter-dialplan /var/log/asterisk/cdr-custom /var/run/asterisk \
 && chown 10022:10022 /var/lib/callrouter-dialplan \
 && chown asterisk:asterisk /var/log/asterisk/cdr-custom /var/run/asterisk \
 && mkdir -p /var/spool/asterisk/recording \
 && chown asterisk:asterisk /var/spool/asterisk/recording \
 && chmod 2770 /var/log/asterisk/cdr-custom /var/spool/asterisk/recording \
 && ln -sf /var/lib/callrouter-dialplan/callrouter_fallback.conf \
      /etc/asterisk/callrouter_fallback.conf \
 && ln -sf /var/lib/callrouter-dialplan/callrouter_notices.conf \
      /etc/asterisk/callrouter_notices.conf \
 && ln -sf /var/lib/callrouter-dialplan/musiconhold_callrouter.conf \
      /etc/asterisk/musiconhold_callrouter.conf \
 && printf '\n#tryinclude musiconhold_callrouter.conf\n' >> /etc/asterisk/musiconhold.conf \
 && mkdir -p /usr/share/asterisk/sounds/vi/callrouter/notices \
 && chown -R asterisk:asterisk /etc/asterisk
USER 10023:10023
EXPOSE 5060/udp 8088/tcp
HEALTHCHECK --interval=15s --timeout=5s --retries=3 \
  CMD ["asterisk", "-rx", "core show uptime"]
ENTRYPOINT ["/usr/local/bin/asterisk-entrypoint"]
CMD ["asterisk", "-f", "-vvv"]

# --------------------------------------------------------------------------- callrouter
FROM ${PYTHON_IMAGE} AS callrouter
# espeak-ng + sox: health notices are spoken here, where callrouter runs (nothing downloaded).
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends espeak-ng sox \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10022 callrouter \
 && useradd --system --uid 10022 --gid 10022 --home-dir /var/lib/callrouter --create-home \
      callrouter \
 && mkdir -p /var/lib/callrouter-dialplan /usr/share/asterisk/sounds/vi/callrouter/notices \
 && chown 10022:10022 /var/lib/callrouter-dialplan /usr/share/asterisk/sounds/vi/callrouter/notices
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels /wheels/*.whl \
 && rm -rf /wheels
# callrouter.store.migrate looks for the Alembic scripts beside the installed package, whose
# directory depends on the base (site-packages on python:*, dist-packages on Debian's python3).
COPY migrations /opt/callrouter/migrations
RUN ln -s /opt/callrouter/migrations \
      "$(python -c 'import callrouter, pathlib; print(pathlib.Path(callrouter.__file__).parents[1])')/migrations" \
 && python -c 'from callrouter.store import migrate; assert (migrate.MIGRATIONS_DIR / "env.py").is_file()'
COPY dialplan /opt/callrouter/dialplan
COPY config/rota.example.yaml config/notices.example.yaml /opt/callrouter/config/
ENV CALLROUTER_STATE_DIR=/var/lib/callrouter \
    CALLROUTER_DIALPLAN_INCLUDE=/var/lib/callrouter-dialplan/callrouter_fallback.conf \
    CALLROUTER_NOTICES_SOUNDS_DIR=/usr/share/asterisk/sounds \
    CALLROUTER_WEB_HOST=127.0.0.1 \
    CALLROUTER_WEB_PORT=8080 \
    PYTHONUNBUFFERED=1
WORKDIR /opt/callrouter
USER 10022:10022
# The admin web only. FastAGI (4573) is for Asterisk alone: compose runs callrouter in the
# Asterisk container's network namespace, where it stays on loopback and is never published.
EXPOSE 8080/tcp
HEALTHCHECK --interval=15s --timeout=5s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]
ENTRYPOINT ["callrouter"]
CMD ["serve", "--json-logs"]
