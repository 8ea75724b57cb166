"""``scillm serve proxy``: an OpenAI-compatible gateway over litellm's proxy ``config.yaml``.

    scillm serve proxy --config config.yaml [--port 4000] [--usage-log usage.jsonl]
    # or: scillm-proxy --config config.yaml

One :class:`~scillm.Router` serves every client (one pacer per upstream deployment), keys come
from the config (:mod:`.keys`), each request is one line of the usage log (:mod:`.usage`).
Modules: :mod:`.config` (the YAML), :mod:`.app` (the routes), :mod:`.upstream` (errors),
:mod:`.cli` (the commands). FastAPI loads only when a gateway is built.
"""
