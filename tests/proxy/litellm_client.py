"""Run by test_proxy_clients.py in a child process: litellm as a client of the gateway.

python tests/proxy/litellm_client.py <proxy base URL (…/v1)> <key>     # prints "ok"
"""

from __future__ import annotations

import asyncio
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm

USER = [{"role": "user", "content": "through the gateway"}]


def main(base: str, key: str) -> None:
    reply = litellm.completion(model="openai/fast", messages=USER, api_base=base, api_key=key)
    assert reply.choices[0].message.content == "through the gateway", reply
    assert reply.usage.total_tokens > 0, reply
    stream = litellm.completion(
        model="openai/fast", messages=USER, api_base=base, api_key=key, stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    assert text == "through the gateway", text

    async def twice() -> list[str]:
        replies = await asyncio.gather(
            *(
                litellm.acompletion(model="openai/fast", messages=USER, api_base=base, api_key=key)
                for _ in range(2)
            )
        )
        return [r.choices[0].message.content for r in replies]

    assert asyncio.run(twice()) == ["through the gateway"] * 2
    try:
        litellm.completion(model="openai/fast", messages=USER, api_base=base, api_key="sk-no")
    except litellm.AuthenticationError:
        pass
    else:
        raise AssertionError("a wrong key got through")
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
