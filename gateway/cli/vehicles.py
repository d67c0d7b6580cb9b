"""`fleetgate vehicles ...`: register, inspect and command vehicles."""

from __future__ import annotations

import argparse
from typing import Any

from drivers.base import CredentialKind
from drivers.brands import BRANDS, lookup
from gateway.cli.output import read_secret, show, state_lines, table
from gateway.client import AdminClient, ClientError

VEHICLE_COLUMNS = [
    ("id", "id"),
    ("brand", "telematics_unit.brand"),
    ("unit", "telematics_unit.id"),
    ("plate", "master_data.license_plate"),
    ("name", "master_data.custom_name"),
    ("life", "life_status.value"),
    ("operation", "operation_status.value"),
]


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


def vehicles_state(client: AdminClient, args: argparse.Namespace) -> None:
    show(args, client.get(f"/vehicles/{args.vehicle_id}/state"), state_lines)


def vehicles_command(client: AdminClient, args: argparse.Namespace) -> None:
    command = args.command_name.lower().replace("_", "-")
    state = client.request("POST", f"/vehicles/{args.vehicle_id}/commands/{command}")
    show(args, state, lambda s: f"{command}: done\n{state_lines(s)}")


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
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
    set_model = vehicles.add_parser("set-model", parents=[common], help="change a vehicle's model")
    set_model.add_argument("vehicle_id")
    set_model.add_argument("model")
    set_model.set_defaults(run=vehicles_set_model)
