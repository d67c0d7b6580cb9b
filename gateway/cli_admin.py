"""CLI commands that talk to a running gateway over its admin socket."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from drivers.base import CredentialKind
from drivers.brands import BRANDS, lookup
from gateway.client import AdminClient, ClientError, socket_path


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    """Rows as aligned columns; ``columns`` are (heading, dotted key)."""

    def cell(row: dict[str, Any], key: str) -> str:
        value: Any = row
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, list):
            return ",".join(map(str, value))
        return "" if value is None else str(value)

    cells = [[cell(row, key) for _, key in columns] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, (h, _) in enumerate(columns)]
    lines = ["  ".join(h.upper().ljust(w) for (h, _), w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


VEHICLE_COLUMNS = [
    ("id", "id"),
    ("brand", "telematics_unit.brand"),
    ("unit", "telematics_unit.id"),
    ("plate", "master_data.license_plate"),
    ("name", "master_data.custom_name"),
    ("life", "life_status.value"),
    ("operation", "operation_status.value"),
]


def read_secret(prompt: str) -> str:
    """From a prompt at a terminal, else the first line of stdin: never from argv,
    where it would sit in shell history and the process list."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    line = sys.stdin.readline()
    if not line:
        raise ClientError("expected the secret on standard input")
    return line.rstrip("\r\n")


def show(args: argparse.Namespace, value: Any, human) -> None:
    if args.json:
        print(json.dumps(value, indent=2))
    else:
        print(human(value))


def vehicle_details(vehicle: dict[str, Any]) -> str:
    unit = vehicle["telematics_unit"]
    lines = [
        f"vehicle      {vehicle['id']} (fleet {vehicle['fleet_id']}, created {vehicle['created_at']})",
        f"unit         {unit['brand']} {unit['id']} (attached {unit['attached_at']})",
        f"model        {unit.get('vehicle_model_id', '')}",
        f"life         {vehicle['life_status']['value']} since {vehicle['life_status']['modified_at']}",
        f"operation    {vehicle['operation_status']['value']}",
        f"commands     {', '.join(vehicle['capabilities']['commands']) or '-'}",
        f"state        {', '.join(vehicle['capabilities']['vehicle_state']) or '-'}",
    ]
    master = {k: v for k, v in vehicle["master_data"].items() if k != "modified_at"}
    lines += [f"{k:<12} {v}" for k, v in master.items()]
    if vehicle["tags"]:
        lines.append(f"tags         {', '.join(vehicle['tags'])}")
    lines += [f"custom       {k} = {v}" for k, v in vehicle["custom_fields"].items()]
    return "\n".join(lines)


def vehicles_add(client: AdminClient, args: argparse.Namespace) -> None:
    brand = lookup(args.brand)
    if brand is None:
        raise ClientError(f"unknown brand '{args.brand}' (known: {', '.join(BRANDS)})")
    unit: dict[str, Any] = {"id": args.unit_id, "brand": brand.name, "setup": {"vehicle_model_id": args.model}}
    if brand.credential_kind is CredentialKind.SHARED:
        if not args.credentials:
            raise ClientError(f"{brand.name} units need --credentials ID (see `fleetgate credentials list`)")
        unit["authentication"] = {"credentials_id": args.credentials}
    elif brand.credential_kind is CredentialKind.INDIVIDUAL:
        unit["authentication"] = {"password": read_secret(f"password of {brand.name} unit {args.unit_id}: ")}
    body: dict[str, Any] = {"telematics_unit": unit}
    master = {k: v for k, v in (("license_plate", args.plate), ("custom_name", args.name), ("vin", args.vin)) if v}
    if master:
        body["master_data"] = master
    if args.tag:
        body["tags"] = args.tag
    if args.garage:
        body["operation_status"] = "GARAGE"
    show(args, client.post("/vehicles", body), vehicle_details)


def vehicles_list(client: AdminClient, args: argparse.Namespace) -> None:
    params = {"q": args.query} if args.query else {}
    show(args, client.all_items("/vehicles", **params), lambda rows: table(rows, VEHICLE_COLUMNS))


def vehicles_show(client: AdminClient, args: argparse.Namespace) -> None:
    show(args, client.get(f"/vehicles/{args.vehicle_id}"), vehicle_details)


def vehicles_set_model(client: AdminClient, args: argparse.Namespace) -> None:
    result = client.put(f"/vehicles/{args.vehicle_id}/telematics-unit/setup", {"vehicle_model_id": args.model})
    show(args, result, lambda r: f"vehicle {args.vehicle_id} now uses model {r['vehicle_model_id']} ({r['status']})")


def vehicles_remove(client: AdminClient, args: argparse.Namespace) -> None:
    client.delete(f"/vehicles/{args.vehicle_id}")
    show(args, {"removed": args.vehicle_id}, lambda r: f"vehicle {args.vehicle_id} removed; its unit is available again")


def vehicles_enrol(client: AdminClient, args: argparse.Namespace) -> None:
    window = client.post(f"/vehicles/{args.vehicle_id}/telematics-unit/enrolment", {"expires_in": args.expires_in})
    show(args, window, lambda w: f"vehicle {args.vehicle_id}: its unit may register once, until {w['expires_at']}")


def state_lines(state: dict[str, Any]) -> str:
    if not state:
        return "no state reported yet"
    width = max(len(name) for name in state)
    lines = []
    for name, entry in state.items():
        value = entry["value"]
        if isinstance(value, dict) and {"lat", "lon"} <= set(value):
            value = f"{value['lat']:.6f}, {value['lon']:.6f}"
        lines.append(f"{name:<{width}}  {value!s:<24} at {entry['timestamp']}")
    return "\n".join(lines)


def vehicles_state(client: AdminClient, args: argparse.Namespace) -> None:
    show(args, client.get(f"/vehicles/{args.vehicle_id}/state"), state_lines)


def vehicles_command(client: AdminClient, args: argparse.Namespace) -> None:
    command = args.command_name.lower().replace("_", "-")
    state = client.request("POST", f"/vehicles/{args.vehicle_id}/commands/{command}")
    show(args, state, lambda s: f"{command}: done\n{state_lines(s)}")


def models_list(client: AdminClient, args: argparse.Namespace) -> None:
    brands = [lookup(args.brand).name] if args.brand and lookup(args.brand) else list(BRANDS)
    if args.brand and not lookup(args.brand):
        raise ClientError(f"unknown brand '{args.brand}' (known: {', '.join(BRANDS)})")
    models = [m for b in brands for m in client.get(f"/telematics-brands/{b}/available-vehicle-models")["items"]]
    columns = [("id", "id"), ("brand", "brand"), ("vehicle", "vehicle_model"), ("type", "vehicle_type"),
               ("commands", "capabilities.commands")]
    show(args, models, lambda rows: table(rows, columns))


CREDENTIAL_COLUMNS = [("id", "id"), ("brand", "brand"), ("name", "name"), ("kind", "kind"),
                      ("client id", "client_id"), ("account", "account"), ("created", "created_at")]


def credentials_add(client: AdminClient, args: argparse.Namespace) -> None:
    body = {"brand": args.brand, "name": args.name or args.account or args.client_id}
    if args.account:
        body.update(account=args.account, password=read_secret(f"password of NIU account {args.account}: "))
    else:
        body.update(client_id=args.client_id, client_secret=read_secret(f"client secret for '{body['name']}': "))
    show(args, client.post("/credentials", body), lambda row: table([row], CREDENTIAL_COLUMNS))


def credentials_list(client: AdminClient, args: argparse.Namespace) -> None:
    show(args, client.all_items("/credentials"), lambda rows: table(rows, CREDENTIAL_COLUMNS))


def credentials_remove(client: AdminClient, args: argparse.Namespace) -> None:
    client.delete(f"/credentials/{args.credentials_id}")
    show(args, {"removed": args.credentials_id}, lambda r: f"credentials {args.credentials_id} removed")


def units_available(client: AdminClient, args: argparse.Namespace) -> None:
    items = client.all_items(f"/telematics-brands/{args.brand}/available-telematics-units")
    columns = [("unit", "id"), ("brand", "brand"), ("first seen", "first_seen_at"), ("last seen", "last_seen_at"),
               ("times", "seen_count"), ("from", "remote_address")]
    show(args, items, lambda rows: table(rows, columns))


def event_line(kind: str, event: dict[str, Any]) -> str:
    """One readable line per event for `fleetgate events tail`."""
    if kind == "StreamDropped":
        return f"stream dropped ({event.get('reason')}); resume with --after {event.get('resume_after')}"
    data = event.get("data", {})
    who = f"vehicle {event['vehicle_id']}" if event.get("vehicle_id") else "no vehicle"
    unit = f"{event.get('brand')} {event.get('unit_id')}"
    if kind == "VehicleStateRecorded":
        parts = []
        for name, entry in data.items():
            value = entry.get("value")
            if isinstance(value, dict) and {"lat", "lon"} <= set(value):
                value = f"{value['lat']:.5f},{value['lon']:.5f}"
            parts.append(f"{name}={value}")
        what = " ".join(parts)
    elif kind == "VehicleChanged":
        what = ", ".join(data.get("reasons", [])) + (f" -> {data['life_status']}" if "life_status" in data else "")
    elif kind == "CommandExecuted":
        what = f"{data.get('command')} {data.get('result')} in {data.get('duration_ms')} ms"
    else:
        what = f"from {data.get('remote_address')}"
    return f"{event['occurred_at']}  #{event['id']}  {kind:<20} {who} ({unit})  {what}"


def events_tail(client: AdminClient, args: argparse.Namespace) -> None:
    params = {k: v for k, v in (("vehicle_id", args.vehicle), ("event_types", args.event_types)) if v}
    try:
        for kind, event in client.stream_events(params, args.after):
            print(json.dumps(event) if args.json else event_line(kind, event), flush=True)
    except KeyboardInterrupt:
        pass


def add_parsers(commands: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--socket", help="admin socket (default: $FLEETGATE_SOCKET or fleetgate-data/admin.sock)")
    common.add_argument("--json", action="store_true", help="print JSON for scripts instead of a table")

    vehicles = commands.add_parser("vehicles", help="register and inspect vehicles").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    add = vehicles.add_parser("add", parents=[common], help="register a vehicle with its telematics unit")
    add.add_argument("--brand", required=True, help="TELTONIKA, CONCOX, JT808 or NIU")
    add.add_argument("--unit-id", required=True, help="IMEI, terminal phone number or NIU serial")
    add.add_argument("--model", required=True, help="vehicle model id (see `fleetgate models list`)")
    add.add_argument("--credentials", help="credentials id, for NIU")
    add.add_argument("--plate", help="licence plate")
    add.add_argument("--name", help="custom name")
    add.add_argument("--vin")
    add.add_argument("--tag", action="append", help="a tag; repeat for more")
    add.add_argument("--garage", action="store_true", help="start in operation status GARAGE")
    add.set_defaults(run=vehicles_add)
    listing = vehicles.add_parser("list", parents=[common], help="list vehicles")
    listing.add_argument("query", nargs="?", help="match plate, VIN, custom name or unit id")
    listing.set_defaults(run=vehicles_list)
    for name, run, helptext in (("show", vehicles_show, "show one vehicle"),
                                ("remove", vehicles_remove, "remove a vehicle; its unit becomes available")):
        p = vehicles.add_parser(name, parents=[common], help=helptext)
        p.add_argument("vehicle_id")
        p.set_defaults(run=run)
    state = vehicles.add_parser("state", parents=[common], help="the vehicle's latest state")
    state.add_argument("vehicle_id")
    state.set_defaults(run=vehicles_state)
    command = vehicles.add_parser("command", parents=[common], help="send a command, e.g. disable-driving")
    command.add_argument("vehicle_id")
    command.add_argument("command_name", metavar="COMMAND")
    command.set_defaults(run=vehicles_command)
    enrol = vehicles.add_parser("enrol", parents=[common],
                                help="let the vehicle's JT808 unit register once and receive its password")
    enrol.add_argument("vehicle_id")
    enrol.add_argument("--expires-in", type=int, default=600, metavar="S", help="seconds the window stays open")
    enrol.set_defaults(run=vehicles_enrol)
    set_model = vehicles.add_parser("set-model", parents=[common], help="change a vehicle's model")
    set_model.add_argument("vehicle_id")
    set_model.add_argument("model")
    set_model.set_defaults(run=vehicles_set_model)

    models = commands.add_parser("models", help="the vehicle-model catalog").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    mlist = models.add_parser("list", parents=[common], help="list vehicle models and their capabilities")
    mlist.add_argument("--brand")
    mlist.set_defaults(run=models_list)

    credentials = commands.add_parser("credentials", help="shared credentials for cloud brands").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    cadd = credentials.add_parser("add", parents=[common],
                                  help="store credentials; the secret or password is read from a prompt or stdin")
    cadd.add_argument("--brand", default="NIU")
    cadd.add_argument("--name", help="a name for people (default: the account or client id)")
    login = cadd.add_mutually_exclusive_group(required=True)
    login.add_argument("--account", metavar="EMAIL", help="a NIU account (e-mail or phone), as in NIU's app")
    login.add_argument("--client-id", help="fleet client credentials' client id")
    cadd.set_defaults(run=credentials_add)
    credentials.add_parser("list", parents=[common], help="list credentials").set_defaults(run=credentials_list)
    cremove = credentials.add_parser("remove", parents=[common], help="remove unused credentials")
    cremove.add_argument("credentials_id")
    cremove.set_defaults(run=credentials_remove)

    events = commands.add_parser("events", help="the event log").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    tail = events.add_parser("tail", parents=[common], help="follow the live event stream (Ctrl-C to stop)")
    tail.add_argument("--vehicle", help="only this vehicle's events")
    tail.add_argument("--event-types", help="comma-separated: VehicleStateRecorded,VehicleChanged,...")
    tail.add_argument("--after", help="replay from after this event id first")
    tail.set_defaults(run=events_tail)

    units = commands.add_parser("units", help="telematics units").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    available = units.add_parser("available", parents=[common], help="units seen but not in a vehicle")
    available.add_argument("--brand", required=True)
    available.set_defaults(run=units_available)


def run_admin_command(args: argparse.Namespace) -> int:
    try:
        with AdminClient(socket_path(args.socket)) as client:
            args.run(client, args)
    except ClientError as exc:
        print(f"fleetgate: {exc}", file=sys.stderr)
        return 1
    return 0
