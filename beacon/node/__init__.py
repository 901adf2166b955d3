"""The Beacon v2 node: aiohttp app, routes, middleware and response builders."""
