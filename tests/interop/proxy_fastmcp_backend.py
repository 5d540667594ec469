"""A FastMCP server used as a proxy backend by test_proxy.py (stdio).

`fastmcp_ask(tag)` elicits `"<tag>: what is your value?"` (a string, which FastMCP asks
for as `{"value": ...}`) and returns `tag=<tag> value=<answer>`.
"""

from fastmcp import Context, FastMCP

mcp = FastMCP("fastmcp-backend")


@mcp.tool
async def fastmcp_ask(tag: str, ctx: Context) -> str:
    answer = await ctx.elicit(f"{tag}: what is your value?", response_type=str)
    value = getattr(answer, "data", None)
    return f"tag={tag} value={value if value is not None else '(' + answer.action + ')'}"


if __name__ == "__main__":
    mcp.run(show_banner=False)
