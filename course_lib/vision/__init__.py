"""Vision building blocks: encoders and pretext tasks (import the submodules explicitly)."""
