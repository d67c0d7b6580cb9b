"""What `vehicles add` and `vehicles set` say about a vehicle besides its unit: master data,
custom fields, tags and operation status, as options, and the API body they make."""

from __future__ import annotations

import argparse
from typing import Any, get_args

from gateway.admin.schemas import FuelType, OperationStatus, Transmission, VehicleType
from gateway.client import ClientError

# (option, other spellings, field of master_data, help, choices)
FIELDS: list[tuple[str, tuple[str, ...], str, str, tuple[str, ...] | None]] = [
    ("--license-plate", ("--plate",), "license_plate", "licence plate, up to 30 characters", None),
    ("--vin", (), "vin", "vehicle identification number: 17 letters and digits, without I, O and Q", None),
    ("--custom-name", ("--name",), "custom_name", "a name for people", None),
    ("--vehicle-brand", (), "brand", "the vehicle's make, e.g. NIU (not its telematics brand)", None),
    ("--vehicle-model", (), "model", "the vehicle's model name, e.g. N1 (not its vehicle model id)", None),
    ("--fuel-type", (), "fuel_type", "fuel type", get_args(FuelType)),
    ("--year", ("--year-of-production",), "year_of_production", "year of production, 4 digits", None),
    ("--transmission", (), "transmission", "transmission", get_args(Transmission)),
    ("--vehicle-type", (), "vehicle_type", "vehicle type", get_args(VehicleType)),
    ("--remark", (), "remark", "a remark, up to 2000 characters", None),
]
_OPTION_OF = {field: option[2:] for option, _, field, _, _ in FIELDS}


def add_arguments(parser: argparse.ArgumentParser, *, changing: bool) -> None:
    """The options; ``changing``: for `set`, whose lists replace the stored ones and which can
    remove what is there."""
    for option, others, field, helptext, choices in FIELDS:
        parser.add_argument(option, *others, dest=field, type=str.upper if choices else None, choices=choices,
                            metavar=None if choices else option[2:].upper().replace("-", "_"), help=helptext)
    replaces = " (replaces every one stored, as the API does)" if changing else ""
    parser.add_argument("--custom-field", action="append", metavar="KEY=VALUE", dest="custom_fields",
                        type=_custom_field, help=f"a custom field, its value a string; repeat for more{replaces}")
    parser.add_argument("--tag", action="append", dest="tags", metavar="TAG",
                        help=f"a tag: lower-case letters, digits and _; repeat for more{replaces}")
    parser.add_argument("--operation-status", type=str.upper, choices=get_args(OperationStatus),
                        help="OPERATING (the default for a new vehicle) or GARAGE")
    if changing:
        parser.add_argument("--unset", action="append", default=[], choices=list(_OPTION_OF.values()),
                            metavar="FIELD", help="remove a master-data field, named as its option without "
                                                  f"--: {', '.join(_OPTION_OF.values())}; repeat for more")
        parser.add_argument("--no-custom-fields", action="store_true", help="remove every custom field")
        parser.add_argument("--no-tags", action="store_true", help="remove every tag")


def _custom_field(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"'{text}' is not KEY=VALUE")
    return key, value


def body(args: argparse.Namespace) -> dict[str, Any]:
    """The part of a POST or PATCH /vehicles body that the options give."""
    master: dict[str, Any] = {field: getattr(args, field) for _, _, field, _, _ in FIELDS
                              if getattr(args, field) is not None}
    result: dict[str, Any] = {}
    for option in getattr(args, "unset", []):
        field = next(f for f, o in _OPTION_OF.items() if o == option)
        if field in master:
            raise ClientError(f"--{option} and --unset {option} together: give one of them")
        master[field] = None  # null removes the field (PATCH merges master data field by field)
    if master:
        result["master_data"] = master
    if getattr(args, "no_custom_fields", False) and args.custom_fields:
        raise ClientError("--custom-field and --no-custom-fields together: give one of them")
    if args.custom_fields is not None or getattr(args, "no_custom_fields", False):
        result["custom_fields"] = dict(args.custom_fields or [])
    if getattr(args, "no_tags", False) and args.tags:
        raise ClientError("--tag and --no-tags together: give one of them")
    if args.tags is not None or getattr(args, "no_tags", False):
        result["tags"] = args.tags or []
    if args.operation_status:
        result["operation_status"] = args.operation_status
    return result
