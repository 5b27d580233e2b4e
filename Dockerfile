# syntax=docker/dockerfile:1
# One image for web, worker and beat: the same code and pins everywhere. torch from PyPI is a CUDA build,
# so the worker uses the GPU where docker-compose.gpu.yml hands it one and the CPU otherwise.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=dr_portal.settings.production \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    DJANGO_MEDIA_ROOT=/data/media

# tini reaps children and forwards signals, so a stop gives Celery its warm shutdown (finish the grading in
# hand) instead of a kill.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 portal
WORKDIR /app

# Requirements first: the layer with torch (gigabytes) is rebuilt only when the pins change.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are collected at build time; WhiteNoise serves them from the image.
RUN DJANGO_SECRET_KEY=collectstatic-only DJANGO_ALLOWED_HOSTS=localhost \
        python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /data/media \
    && chown -R portal:portal /data/media

USER portal
EXPOSE 8000
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["gunicorn", "--config", "dr_portal/gunicorn.conf.py", "dr_portal.wsgi"]
