# syntax=docker/dockerfile:1
# callrouter service image (multi-stage, non-root). Asterisk runs in its own container.
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY callrouter ./callrouter
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11.11-slim-bookworm
RUN useradd --system --home /var/lib/callrouter --create-home callrouter
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY migrations /opt/callrouter/migrations
COPY dialplan /opt/callrouter/dialplan
USER callrouter
ENV CALLROUTER_STATE_DIR=/var/lib/callrouter
WORKDIR /opt/callrouter
ENTRYPOINT ["callrouter"]
CMD ["serve"]
