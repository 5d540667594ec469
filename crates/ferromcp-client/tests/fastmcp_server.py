"""A FastMCP server for ferromcp-client's `tests/foreign_fastmcp.rs`.

Run as `python fastmcp_server.py PORT`; it serves Streamable HTTP on
http://127.0.0.1:PORT/mcp (FastMCP's `transport="http"`) until killed.

Every tool answers from its arguments, so the Rust test can check that each
call got its own answer:

- `add(a, b)`                       -> a + b
- `count(steps)`                    -> progress i/steps for i in 1..=steps, then "counted N"
- `chatty(word)`                    -> info + warning log messages carrying `word`
- `ask(name)`                       -> elicits "What is the code for NAME?" and returns "NAME=<code>"
- `summarize(topic)`                -> samples "Summarize TOPIC" and returns "TOPIC: <text>"

On 2025-11-25 elicitation and sampling are real server->client requests tied to the call
(`related_request_id`); on 2026-07-28, where the server cannot push requests, the same
tools use FastMCP's multi-round-trip guard pattern (return an `InputRequiredResult`, read
`ctx.input_responses` on the retry).
"""

import sys

import mcp_types as t
from fastmcp import Context, FastMCP

mcp = FastMCP("ferro-foreign-fastmcp", instructions="ferromcp-client interop server")


def is_modern(ctx: Context) -> bool:
    rc = ctx.request_context
    return rc is not None and str(rc.protocol_version) >= "2026-07-28"


@mcp.tool
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@mcp.tool
async def count(steps: int, ctx: Context) -> str:
    """Reports progress i/steps for each step, then says how many it counted."""
    for i in range(1, steps + 1):
        await ctx.report_progress(i, steps, f"step {i}")
    return f"counted {steps}"


@mcp.tool
async def chatty(word: str, ctx: Context) -> str:
    """Sends an info and a warning log message that carry `word`."""
    await ctx.info(f"info {word}")
    await ctx.warning(f"warning {word}")
    return f"logged {word}"


CODE_SCHEMA = {
    "type": "object",
    "properties": {"code": {"type": "string"}},
    "required": ["code"],
}


@mcp.tool
async def ask(name: str, ctx: Context) -> str:
    """Asks the user for the code of `name` and returns `name=code`."""
    message = f"What is the code for {name}?"
    if is_modern(ctx):
        answers = ctx.input_responses
        if not answers or "code" not in answers:
            return t.InputRequiredResult(
                input_requests={
                    "code": t.ElicitRequest(
                        params=t.ElicitRequestFormParams(message=message, requested_schema=CODE_SCHEMA)
                    )
                }
            )
        answer = answers["code"]
        if answer.action != "accept" or not answer.content:
            return f"{name}: {answer.action}"
        return f"{name}={answer.content['code']}"
    result = await ctx.elicit(message, str, response_title="code")
    if result.action != "accept":
        return f"{name}: {result.action}"
    return f"{name}={result.data}"


@mcp.tool
async def summarize(topic: str, ctx: Context) -> str:
    """Asks the client's model to summarize `topic` and returns `topic: <text>`."""
    request = t.CreateMessageRequestParams(
        messages=[t.SamplingMessage(role="user", content=t.TextContent(type="text", text=f"Summarize {topic}"))],
        max_tokens=50,
    )
    if is_modern(ctx):
        answers = ctx.input_responses
        if not answers or "sample" not in answers:
            return t.InputRequiredResult(input_requests={"sample": t.CreateMessageRequest(params=request)})
        content = answers["sample"].content
    else:
        result = await ctx.session.create_message(
            messages=request.messages,
            max_tokens=request.max_tokens,
            related_request_id=ctx.request_id,
        )
        content = result.content
    return f"{topic}: {getattr(content, 'text', content)}"


@mcp.resource("memo://greeting", mime_type="text/plain")
def greeting() -> str:
    """A static text resource."""
    return "hello from fastmcp"


@mcp.resource("memo://items/{item}")
def item(item: str) -> str:
    """A templated resource: the item's name, upper-cased."""
    return item.upper()


@mcp.prompt
def haiku(theme: str) -> str:
    """A prompt with one argument."""
    return f"Write a haiku about {theme}"


THEMES = ["autumn", "avalanche", "winter", "wind"]


@mcp.completion
def complete(ref, argument, context):
    if isinstance(ref, t.PromptReference) and ref.name == "haiku" and argument.name == "theme":
        return [th for th in THEMES if th.startswith(argument.value)]
    return None


if __name__ == "__main__":
    mcp.run(transport="http", host="127.0.0.1", port=int(sys.argv[1]), show_banner=False)
