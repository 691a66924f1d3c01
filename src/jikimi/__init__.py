"""jikimi (지킴이): find and remove non-consensual sexual imagery, deepfakes included."""

__version__ = "0.1.0"
