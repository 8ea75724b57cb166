"""Local engines: the embedded SmolLM2 model served by xllamacpp inside this process."""

from scillm.local.embedded import EmbeddedServer, LocalSettings, get_server, model_path

__all__ = ["EmbeddedServer", "LocalSettings", "get_server", "model_path"]
