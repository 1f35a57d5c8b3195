"""Drives `asth serve --http` with the official `openai` client.

Run by OpenAIClientTests.swift, which starts the daemon and checks what this
prints (one JSON object on standard output) against the ledger.

    client.py BASE_URL TOKEN basic
    client.py BASE_URL TOKEN concurrent PERSONA... --count N --max-tokens M
    client.py BASE_URL TOKEN cut PERSONA --after N
"""

import argparse
import asyncio
import json
import sys

import openai

TIMEOUT_SECONDS = 600


def usage_of(usage):
    """The usage object as plain JSON, the x_ fields included."""
    return usage.model_dump() if usage is not None else None


def basic(client):
    """Lists the models, gets one reply, streams one, and reads usage."""
    models = [model.id for model in client.models.list()]
    reply = client.chat.completions.create(
        model="assistant",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=12,
    )
    text = ""
    chunks = 0
    streamed_usage = None
    finish = None
    stream = client.chat.completions.create(
        model="pirate",
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.usage is not None:
            streamed_usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                text += choice.delta.content
                chunks += 1
            if choice.finish_reason:
                finish = choice.finish_reason
    return {
        "models": models,
        "reply": {
            "id": reply.id,
            "model": reply.model,
            "text": reply.choices[0].message.content,
            "finish_reason": reply.choices[0].finish_reason,
            "usage": usage_of(reply.usage),
        },
        "stream": {
            "text": text,
            "chunks": chunks,
            "finish_reason": finish,
            "usage": usage_of(streamed_usage),
        },
    }


async def one_stream(client, persona, max_tokens, index):
    """One streamed reply: its text and its usage."""
    stream = await client.chat.completions.create(
        model=persona,
        messages=[{"role": "user", "content": f"Give me fact number {index}."}],
        max_tokens=max_tokens,
        stream=True,
        stream_options={"include_usage": True},
    )
    text = ""
    usage = None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
    return {"persona": persona, "text": text, "usage": usage_of(usage)}


async def concurrent(base_url, token, personas, count, max_tokens):
    """`count` streams at once, spread over `personas` in turn."""
    client = openai.AsyncOpenAI(
        base_url=base_url, api_key=token, timeout=TIMEOUT_SECONDS, max_retries=0
    )
    tasks = [
        one_stream(client, personas[index % len(personas)], max_tokens, index)
        for index in range(count)
    ]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    await client.close()
    return {
        "streams": [r for r in results if not isinstance(r, Exception)],
        "errors": [repr(r) for r in results if isinstance(r, Exception)],
    }


def cut(client, persona, after):
    """Streams a long reply and hangs up after `after` pieces of text."""
    stream = client.chat.completions.create(
        model=persona,
        messages=[{"role": "user", "content": "Tell me a long story about the sea."}],
        stream=True,
    )
    received = 0
    identifier = None
    for chunk in stream:
        identifier = chunk.id
        if any(choice.delta.content for choice in chunk.choices):
            received += 1
        if received >= after:
            break
    stream.close()
    return {"id": identifier, "received": received}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("token")
    parser.add_argument("mode", choices=["basic", "concurrent", "cut"])
    parser.add_argument("personas", nargs="*")
    parser.add_argument("--count", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--after", type=int, default=3)
    arguments = parser.parse_args()

    client = openai.OpenAI(
        base_url=arguments.base_url,
        api_key=arguments.token,
        timeout=TIMEOUT_SECONDS,
        max_retries=0,
    )
    if arguments.mode == "basic":
        result = basic(client)
    elif arguments.mode == "concurrent":
        result = asyncio.run(
            concurrent(
                arguments.base_url,
                arguments.token,
                arguments.personas,
                arguments.count,
                arguments.max_tokens,
            )
        )
    else:
        result = cut(client, arguments.personas[0], arguments.after)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
