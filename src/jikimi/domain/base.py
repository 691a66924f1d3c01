"""The one base of every value type: a frozen pydantic model that refuses unknown fields.

Frozen so that a value handed from one layer to another cannot change under the
receiver (the pipeline, the services and the doors share the same objects);
``extra="forbid"`` so that a misspelt field is an error, not silently dropped.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Base of the domain's value types: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")
