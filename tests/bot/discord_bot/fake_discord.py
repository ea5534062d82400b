"""A tiny fake Discord (REST + gateway) on 127.0.0.1, for one end-to-end test of the real transport.

Only what the bot touches: login, command sync, the gateway handshake and heartbeats, dispatching
INTERACTION_CREATE / MESSAGE_CREATE, and the calls the bot answers with (interaction callbacks,
webhook followups, channel messages, typing). Every request is recorded for the test to inspect.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

GOOD_TOKEN = "fake-token-for-tests.not-a-secret"
ADMIN_PERMISSIONS = str((1 << 3) | (1 << 5))  # Administrator, Manage Server
MEMBER_PERMISSIONS = str((1 << 10) | (1 << 11) | (1 << 31))  # view, send, use application commands


@dataclass
class Request:
    method: str
    path: str
    body: Any
    at: float


def _json(data: Any, status: int = 200) -> web.Response:
    # exactly "application/json": with a charset suffix discord.py reads the body as text
    return web.Response(status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json"})


class FakeDiscord:
    """Start with ``await fake.start()``; point discord.py at ``fake.api_base`` and ``fake.gateway_url``."""

    def __init__(self, *, heartbeat_interval: float = 0.25) -> None:
        self.heartbeat_interval = heartbeat_interval
        self._ids = itertools.count(1_100_000_000_000_000_000)
        self.app_id, self.bot_id, self.guild_id, self.channel_id = (next(self._ids) for _ in range(4))
        self.bot_user = {
            "id": str(self.bot_id),
            "username": "newsdesk",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
        }
        self.requests: list[Request] = []
        self.heartbeats: list[float] = []
        self.identify: dict[str, Any] | None = None
        self.commands: dict[str, str] = {}  # name -> id
        self.ready = asyncio.Event()
        self.posted = asyncio.Condition()
        self._ws: web.WebSocketResponse | None = None
        self._seq = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{path:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)  # loopback only
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- REST --------------------------------------------------------------------------------------

    def _message(self, channel_id: str, body: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "id": str(next(self._ids)),
            "channel_id": channel_id,
            "type": 0,
            "author": self.bot_user,
            "content": body.get("content") or "",
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": "2024-01-01T00:00:00+00:00",
            "edited_timestamp": None,
            "flags": body.get("flags") or 0,
            **extra,
        }

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        body = await request.json() if request.can_read_body else None
        self.requests.append(Request(request.method, path, body, time.perf_counter()))
        async with self.posted:
            self.posted.notify_all()
        method, parts = request.method, path.strip("/").split("/")
        if path == "/users/@me":
            if request.headers.get("Authorization") != f"Bot {GOOD_TOKEN}":
                return _json({"message": "401: Unauthorized", "code": 0}, 401)
            return _json(self.bot_user)
        if path == "/oauth2/applications/@me":
            return _json(
                {
                    "id": str(self.app_id),
                    "name": "newsdesk",
                    "icon": None,
                    "description": "",
                    "rpc_origins": [],
                    "bot_public": False,
                    "bot_require_code_grant": False,
                    "owner": {**self.bot_user, "bot": False},
                    "summary": "",
                    "verify_key": "0" * 64,
                    "flags": 0,
                }
            )
        if method == "PUT" and parts[0] == "applications" and parts[-1] == "commands":
            out = []
            for command in body:
                self.commands[command["name"]] = self.commands.get(command["name"]) or str(next(self._ids))
                out.append(
                    {
                        **command,
                        "id": self.commands[command["name"]],
                        "application_id": str(self.app_id),
                        "version": "1",
                        "default_member_permissions": command.get("default_member_permissions"),
                    }
                )
            return _json(out)
        if parts[0] == "interactions" and parts[-1] == "callback":
            kind = body["type"]
            message = self._message(str(self.channel_id), body.get("data") or {}) if kind in (4, 5) else None
            flags = (body.get("data") or {}).get("flags") or 0
            return _json(
                {
                    "interaction": {
                        "id": parts[1],
                        "type": 2,
                        "response_message_id": message and message["id"],
                        "response_message_loading": kind == 5,
                        "response_message_ephemeral": bool(flags & 64),
                    },
                    "resource": {"type": kind, "message": message},
                }
            )
        if parts[0] == "webhooks":
            if method == "DELETE":
                return web.Response(status=204)
            return _json(self._message(str(self.channel_id), body or {}))
        if parts[0] == "channels" and parts[-1] == "typing":
            return web.Response(status=204)
        if parts[0] == "channels" and parts[-1] == "messages" and method == "POST":
            return _json(self._message(parts[1], body or {}, message_reference=body.get("message_reference")))
        return _json({"message": f"not faked: {method} {path}", "code": 0}, 404)

    # -- gateway -----------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._ws = ws
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000)}})
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                break
            message = json.loads(frame.data)
            if message["op"] == 1:
                self.heartbeats.append(time.perf_counter())
                await ws.send_json({"op": 11})
            elif message["op"] == 2:
                self.identify = message["d"]
                await self.dispatch(
                    "READY",
                    {
                        "v": 10,
                        "user": self.bot_user,
                        "session_id": "fake-session",
                        "resume_gateway_url": self.gateway_url,
                        "guilds": [{"id": str(self.guild_id), "unavailable": True}],
                        "application": {"id": str(self.app_id), "flags": 0},
                        "private_channels": [],
                        "relationships": [],
                        "user_settings": {},
                    },
                )
                await self.dispatch("GUILD_CREATE", self._guild())
                self.ready.set()
        return ws

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        assert self._ws is not None, "the bot has not connected"
        self._seq += 1
        await self._ws.send_json({"op": 0, "t": event, "s": self._seq, "d": data})

    def _guild(self) -> dict[str, Any]:
        return {
            "id": str(self.guild_id),
            "name": "Newsroom",
            "icon": None,
            "owner_id": "1",
            "unavailable": False,
            "member_count": 2,
            "large": False,
            "features": [],
            "emojis": [],
            "stickers": [],
            "threads": [],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "roles": [
                {
                    "id": str(self.guild_id),
                    "name": "@everyone",
                    "permissions": MEMBER_PERMISSIONS,
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                }
            ],
            "channels": [
                {
                    "id": str(self.channel_id),
                    "type": 0,
                    "name": "news",
                    "position": 0,
                    "permission_overwrites": [],
                    "guild_id": str(self.guild_id),
                }
            ],
            "members": [self._member(self.bot_user)],
            "joined_at": "2024-01-01T00:00:00+00:00",
        }

    def _member(self, user: dict[str, Any], permissions: str | None = None) -> dict[str, Any]:
        member = {
            "user": user,
            "roles": [],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
        }
        if permissions is not None:
            member["permissions"] = permissions
        return member

    # -- what a user does --------------------------------------------------------------------------

    def user(self, name: str) -> dict[str, Any]:
        return {"id": str(next(self._ids)), "username": name, "discriminator": "0", "global_name": None, "avatar": None}

    async def slash(self, user: dict[str, Any], name: str, *, admin: bool = False, **options: Any) -> str:
        """Dispatch an application command; returns the interaction token."""
        interaction_id, token = next(self._ids), f"token-{next(self._ids)}"
        await self.dispatch(
            "INTERACTION_CREATE",
            {
                "id": str(interaction_id),
                "application_id": str(self.app_id),
                "type": 2,
                "token": token,
                "version": 1,
                "guild_id": str(self.guild_id),
                "channel_id": str(self.channel_id),
                "channel": {
                    "id": str(self.channel_id),
                    "type": 0,
                    "guild_id": str(self.guild_id),
                    "name": "news",
                    "position": 0,
                    "permission_overwrites": [],
                },
                "member": self._member(user, ADMIN_PERMISSIONS if admin else MEMBER_PERMISSIONS),
                "data": {
                    "id": self.commands[name],
                    "name": name,
                    "type": 1,
                    "guild_id": str(self.guild_id),
                    "options": [{"name": k, "type": 3, "value": v} for k, v in options.items()],
                },
                "locale": "en-GB",
                "guild_locale": "en-GB",
                "app_permissions": ADMIN_PERMISSIONS,
                "entitlements": [],
                "authorizing_integration_owners": {"0": str(self.guild_id)},
                "context": 0,
                "attachment_size_limit": 8 * 1024 * 1024,
            },
        )
        return token

    async def say(self, user: dict[str, Any], content: str, *, mentions_bot: bool = True) -> str:
        """Dispatch a channel message from ``user``; returns its id."""
        message_id = str(next(self._ids))
        await self.dispatch(
            "MESSAGE_CREATE",
            {
                "id": message_id,
                "channel_id": str(self.channel_id),
                "guild_id": str(self.guild_id),
                "type": 0,
                "author": user,
                "member": {k: v for k, v in self._member(user).items() if k != "user"},
                "content": content,
                "mentions": [self.bot_user] if mentions_bot else [],
                "mention_roles": [],
                "mention_everyone": False,
                "attachments": [],
                "embeds": [],
                "pinned": False,
                "tts": False,
                "timestamp": "2024-01-01T00:00:00+00:00",
                "edited_timestamp": None,
                "flags": 0,
                "components": [],
            },
        )
        return message_id

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> list[Request]:
        """Wait until ``predicate(requests)`` is true (bounded in time); returns the requests."""

        async def check() -> None:
            async with self.posted:
                await self.posted.wait_for(lambda: predicate(self.requests))

        await asyncio.wait_for(check(), timeout)
        return self.requests
