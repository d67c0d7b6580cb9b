"""`fleetgate vehicles ...`: register vehicles, change them, look at them, remove them."""

from __future__ import annotations

import argparse
from typing import Any

from drivers.base import CredentialKind
from drivers.brands import BRANDS
from gateway.cli import PROG, master_data, vehicle_telemetry
from gateway.cli.brands import brand_name
from gateway.cli.output import read_secret, show, show_rows
from gateway.cli.parser import subcommands
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
    rows = [
        ("vehicle", f"{vehicle['id']} (fleet {vehicle['fleet_id']}, created {vehicle['created_at']})"),
        ("unit", f"{unit['brand']} {unit['id']} (attached {unit['attached_at']})"),
        ("model", unit.get("vehicle_model_id", "")),
        ("life", f"{vehicle['life_status']['value']} since {vehicle['life_status']['modified_at']}"),
        ("operation", vehicle["operation_status"]["value"]),
        ("commands", ", ".join(vehicle["capabilities"]["commands"]) or "-"),
        ("state", ", ".join(vehicle["capabilities"]["vehicle_state"]) or "-"),
        *((k, v) for k, v in vehicle["master_data"].items() if k != "modified_at"),
    ]
    if vehicle["tags"]:
        rows.append(("tags", ", ".join(vehicle["tags"])))
    rows += [("custom", f"{k} = {v}") for k, v in vehicle["custom_fields"].items()]
    width = max(len(label) for label, _ in rows) + 1
    return "\n".join(f"{label:<{width}} {value}" for label, value in rows)


def vehicles_add(client: AdminClient, args: argparse.Namespace) -> None:
    brand = BRANDS[args.brand]
    unit: dict[str, Any] = {"id": args.unit_id, "brand": brand.name, "setup": {"vehicle_model_id": args.model}}
    if brand.credential_kind is CredentialKind.SHARED:
        if not args.credentials:
            raise ClientError(f"{brand.name} units need --credentials ID (see `{PROG} credentials list`)")
        unit["authentication"] = {"credentials_id": args.credentials}
    elif brand.credential_kind is CredentialKind.INDIVIDUAL:
        unit["authentication"] = {"password": read_secret(f"password of {brand.name} unit {args.unit_id}: ")}
    if args.garage:
        args.operation_status = "GARAGE"
    body = {"telematics_unit": unit, **master_data.body(args)}
    show(args, client.post("/vehicles", body), vehicle_details)


def vehicles_list(client: AdminClient, args: argparse.Namespace) -> None:
    params = {"q": args.query} if args.query else {}
    empty = f"no vehicle matches '{args.query}'" if args.query else "no vehicles yet"
    show_rows(args, client.all_items("/vehicles", **params), VEHICLE_COLUMNS, empty)


def vehicles_show(client: AdminClient, args: argparse.Namespace) -> None:
    show(args, client.get(f"/vehicles/{args.vehicle_id}"), vehicle_details)


def vehicles_set(client: AdminClient, args: argparse.Namespace) -> None:
    changes = master_data.body(args)
    if not changes:
        raise ClientError(f"nothing to change: see `{PROG} vehicles set --help`")
    show(args, client.request("PATCH", f"/vehicles/{args.vehicle_id}", json=changes), vehicle_details)


def _operation_status(value: str):
    def run(client: AdminClient, args: argparse.Namespace) -> None:
        vehicle = client.request("PATCH", f"/vehicles/{args.vehicle_id}", json={"operation_status": value})
        show(args, vehicle, lambda v: f"vehicle {v['id']} is {v['operation_status']['value']}")
    return run


def vehicles_set_model(client: AdminClient, args: argparse.Namespace) -> None:
    result = client.put(f"/vehicles/{args.vehicle_id}/telematics-unit/setup", {"vehicle_model_id": args.model})
    show(args, result, lambda r: f"vehicle {args.vehicle_id} now uses model {r['vehicle_model_id']} ({r['status']})")


def vehicles_set_password(client: AdminClient, args: argparse.Namespace) -> None:
    unit = client.get(f"/vehicles/{args.vehicle_id}")["telematics_unit"]
    if BRANDS[unit["brand"]].credential_kind is not CredentialKind.INDIVIDUAL:
        raise ClientError(f"{unit['brand']} units have no password of their own"
                          + (f" (see `{PROG} vehicles set-credentials`)" if unit["brand"] == "NIU" else ""))
    password = read_secret(f"new password of {unit['brand']} unit {unit['id']}: ")
    client.put(f"/vehicles/{args.vehicle_id}/telematics-unit/authentication", {"password": password})
    show(args, {"vehicle_id": args.vehicle_id, "changed": "password"},
         lambda r: f"vehicle {args.vehicle_id}: password of {unit['brand']} unit {unit['id']} changed")


def vehicles_set_credentials(client: AdminClient, args: argparse.Namespace) -> None:
    client.put(f"/vehicles/{args.vehicle_id}/telematics-unit/authentication", {"credentials_id": args.credentials_id})
    show(args, {"vehicle_id": args.vehicle_id, "credentials_id": args.credentials_id},
         lambda r: f"vehicle {args.vehicle_id} now uses credentials {args.credentials_id}")


def vehicles_remove(client: AdminClient, args: argparse.Namespace) -> None:
    client.delete(f"/vehicles/{args.vehicle_id}")
    show(args, {"removed": args.vehicle_id}, lambda r: f"vehicle {args.vehicle_id} removed; its unit is available again")


def vehicles_enrol(client: AdminClient, args: argparse.Namespace) -> None:
    window = client.post(f"/vehicles/{args.vehicle_id}/telematics-unit/enrolment", {"expires_in": args.expires_in})
    show(args, window, lambda w: f"vehicle {args.vehicle_id}: its unit may register once, until {w['expires_at']}")


def vehicle_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("vehicle_id", metavar="ID", help=f"the vehicle's id, e.g. JQ7RP (see `{PROG} vehicles list`)")


def add_arguments(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    actions = subcommands(parser)
    add = actions.add_parser("add", parents=[common], help="register a vehicle with its telematics unit")
    add.add_argument("--brand", required=True, type=brand_name,
                     help=f"the unit's telematics brand: {', '.join(BRANDS)} (any case)")
    add.add_argument("--unit-id", required=True, help="IMEI (TELTONIKA, CONCOX), terminal phone number (JT808) "
                                                      "or serial (NIU)")
    add.add_argument("--model", required=True, help=f"vehicle model id (see `{PROG} models list`)")
    add.add_argument("--credentials", metavar="ID",
                     help=f"the credentials' id, for NIU (see `{PROG} credentials list`); CONCOX and JT808 "
                          "units' passwords are read from a prompt or stdin")
    master_data.add_arguments(add, changing=False)
    add.add_argument("--garage", action="store_true", help="start in operation status GARAGE")
    add.set_defaults(run=vehicles_add)

    listing = actions.add_parser("list", parents=[common], help="list vehicles")
    listing.add_argument("query", nargs="?", help="match plate, VIN, custom name or unit id")
    listing.set_defaults(run=vehicles_list)

    show_parser = actions.add_parser("show", parents=[common], help="show one vehicle")
    vehicle_argument(show_parser)
    show_parser.set_defaults(run=vehicles_show)

    change = actions.add_parser("set", parents=[common],
                                help="change master data, custom fields, tags or operation status")
    vehicle_argument(change)
    master_data.add_arguments(change, changing=True)
    change.set_defaults(run=vehicles_set)

    for name, status, helptext in (("garage", "GARAGE", "take a vehicle out of operation (status GARAGE)"),
                                   ("operate", "OPERATING", "put a vehicle back in operation (status OPERATING)")):
        p = actions.add_parser(name, parents=[common], help=helptext)
        vehicle_argument(p)
        p.set_defaults(run=_operation_status(status))

    set_model = actions.add_parser("set-model", parents=[common], help="change a vehicle's model")
    vehicle_argument(set_model)
    set_model.add_argument("model", metavar="MODEL", help="the new vehicle model id, of the unit's brand")
    set_model.set_defaults(run=vehicles_set_model)

    password = actions.add_parser(
        "set-password", parents=[common],
        help="change the password of a vehicle's unit (CONCOX, JT808), read from a prompt or stdin")
    vehicle_argument(password)
    password.set_defaults(run=vehicles_set_password)

    credentials = actions.add_parser("set-credentials", parents=[common],
                                     help="move a cloud vehicle (NIU) to other stored credentials")
    vehicle_argument(credentials)
    credentials.add_argument("credentials_id", metavar="CREDENTIALS_ID", help="the credentials' id")
    credentials.set_defaults(run=vehicles_set_credentials)

    enrol = actions.add_parser("enrol", parents=[common],
                               help="let the vehicle's JT808 unit register once and receive its password")
    vehicle_argument(enrol)
    enrol.add_argument("--expires-in", type=int, default=600, metavar="S",
                       help="seconds the window stays open, 1 to 86400 (default 600)")
    enrol.set_defaults(run=vehicles_enrol)

    remove = actions.add_parser("remove", parents=[common], help="remove a vehicle; its unit becomes available")
    vehicle_argument(remove)
    remove.set_defaults(run=vehicles_remove)

    vehicle_telemetry.add_actions(actions, common, vehicle_argument)
