"""FastMCP's proxy (`create_proxy`) in front of one MCP server, for `ferrobench proxy`.

Usage: python proxy_fastmcp.py BACKEND_URL PORT  (serves Streamable HTTP on 127.0.0.1:PORT/mcp)
"""

import sys

from fastmcp.server import create_proxy


def main() -> None:
    backend, port = sys.argv[1], int(sys.argv[2])
    proxy = create_proxy(backend, name="fastmcp-proxy")
    proxy.run(transport="http", host="127.0.0.1", port=port, log_level="warning", show_banner=False)


if __name__ == "__main__":
    main()
