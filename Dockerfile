# obspipe worker image: one image, one `obspipe worker NAME` per container.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY stream_apps ./stream_apps
COPY schemas ./schemas
RUN pip install --no-cache-dir .
ENTRYPOINT ["obspipe"]
