"""The OpenAI-compatible providers scillm speaks natively: one row each.

| name          | base env (first set wins)            | key env                              | default base                      |
|---------------|--------------------------------------|--------------------------------------|-----------------------------------|
| openai        | OPENAI_BASE_URL, OPENAI_API_BASE     | OPENAI_API_KEY                       | https://api.openai.com/v1         |
| vllm          | VLLM_API_BASE, HOSTED_VLLM_API_BASE  | VLLM_API_KEY, HOSTED_VLLM_API_KEY    | http://127.0.0.1:8000/v1          |
| openrouter    | OPENROUTER_API_BASE                  | OPENROUTER_API_KEY                   | https://openrouter.ai/api/v1      |
| chutes        | CHUTES_API_BASE, CHUTES_BASE         | CHUTES_API_KEY, CHUTES_API_TOKEN     | https://llm.chutes.ai/v1          |
| runpod        | RUNPOD_API_BASE                      | RUNPOD_API_KEY                       | (none: your endpoint's URL)       |
| together      | TOGETHER_API_BASE, TOGETHERAI_API_BASE | TOGETHER_API_KEY, TOGETHERAI_API_KEY | https://api.together.xyz/v1     |
| groq          | GROQ_API_BASE                        | GROQ_API_KEY                         | https://api.groq.com/openai/v1    |
| deepseek      | DEEPSEEK_API_BASE                    | DEEPSEEK_API_KEY                     | https://api.deepseek.com/v1       |
| ollama        | OLLAMA_API_BASE (without /v1)        | OLLAMA_API_KEY                       | http://127.0.0.1:11434            |
| codex-agent   | CODEX_AGENT_API_BASE (without /v1)   | CODEX_AGENT_API_KEY                  | (none: the agent server's URL)    |

Hosted defaults require a key; a base you set yourself (argument or env) does not.
"""

from __future__ import annotations

from scillm.providers.openai_compat import ProviderSpec

__all__ = ["CODEX_AGENT", "OLLAMA", "OPENAI_COMPATIBLE"]

OPENAI_COMPATIBLE: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        "openai",
        base_env=("OPENAI_BASE_URL", "OPENAI_API_BASE"),
        key_env=("OPENAI_API_KEY",),
        default_base="https://api.openai.com/v1",
        key_required=True,
    ),
    ProviderSpec(
        "vllm",
        base_env=("VLLM_API_BASE", "HOSTED_VLLM_API_BASE"),
        key_env=("VLLM_API_KEY", "HOSTED_VLLM_API_KEY"),
        default_base="http://127.0.0.1:8000/v1",
        aliases=("hosted_vllm",),
    ),
    ProviderSpec(
        "openrouter",
        base_env=("OPENROUTER_API_BASE",),
        key_env=("OPENROUTER_API_KEY",),
        default_base="https://openrouter.ai/api/v1",
        key_required=True,
    ),
    ProviderSpec(
        "chutes",
        base_env=("CHUTES_API_BASE", "CHUTES_BASE"),
        key_env=("CHUTES_API_KEY", "CHUTES_API_TOKEN"),
        default_base="https://llm.chutes.ai/v1",
        key_required=True,
    ),
    ProviderSpec("runpod", base_env=("RUNPOD_API_BASE",), key_env=("RUNPOD_API_KEY",)),
    ProviderSpec(
        "together",
        base_env=("TOGETHER_API_BASE", "TOGETHERAI_API_BASE"),
        key_env=("TOGETHER_API_KEY", "TOGETHERAI_API_KEY"),
        default_base="https://api.together.xyz/v1",
        key_required=True,
        aliases=("together_ai",),
    ),
    ProviderSpec(
        "groq",
        base_env=("GROQ_API_BASE",),
        key_env=("GROQ_API_KEY",),
        default_base="https://api.groq.com/openai/v1",
        key_required=True,
    ),
    ProviderSpec(
        "deepseek",
        base_env=("DEEPSEEK_API_BASE",),
        key_env=("DEEPSEEK_API_KEY",),
        default_base="https://api.deepseek.com/v1",
        key_required=True,
    ),
)

OLLAMA = ProviderSpec(
    "ollama",
    base_env=("OLLAMA_API_BASE",),
    key_env=("OLLAMA_API_KEY",),
    default_base="http://127.0.0.1:11434",
    append_v1=True,
    aliases=("ollama_chat",),
)

CODEX_AGENT = ProviderSpec(
    "codex-agent",
    base_env=("CODEX_AGENT_API_BASE",),
    key_env=("CODEX_AGENT_API_KEY",),
    append_v1=True,
    aliases=("codex_cli_agent", "code-agent", "code_agent"),
)
