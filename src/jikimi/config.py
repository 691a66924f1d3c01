"""Settings: one pydantic-settings object, read from ``JIKIMI_*`` variables.

Nothing reads the environment at import time; doors call :func:`load_settings`
once and pass the object down, so tests can build their own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All knobs of a jikimi process. Environment variables: ``JIKIMI_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="JIKIMI_", env_file=None, extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Where SQLite, blobs, caches live.")

    # --- media limits (decompression bombs, hostile uploads) -----------------
    max_bytes: int = Field(default=64 * 1024 * 1024, gt=0, description="Largest input file.")
    max_pixels: int = Field(default=100_000_000, gt=0, description="Largest width*height.")
    max_dimension: int = Field(default=30_000, gt=0, description="Largest width or height.")

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

    # --- policy --------------------------------------------------------------
    rules_path: Path | None = Field(
        default=None, description="Policy rules (TOML); default: the bundled rules."
    )


def load_settings() -> Settings:
    """Read settings from the environment (the only place that does)."""
    return Settings()
