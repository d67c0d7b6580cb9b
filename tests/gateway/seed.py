"""The seed's request bodies (API.md), shared by the API tests."""

NIU_MODEL_WITH_TOP_CASE = "01F4XW6QHWKT4HMSFDZ9CCQH1G"
NIU_MODEL_PLAIN = "01F4XW6QHWKT4HMSFDZ9CCQH1H"
TELTONIKA_MODEL = "01M8A3J4EXC1SE2XJ4RFJBXV9Q"
CONCOX_MODEL = "01M8A3J4GCYMJHQ8FEKE6WNR6X"
JT808_MODEL = "01M8A3J4HQXHE7A2J2G01ZH06Q"


def niu_vehicle(credentials_id: str, unit_id: str = "NBSG4C7B40647G5M") -> dict:
    return {
        "telematics_unit": {
            "id": unit_id,
            "brand": "NIU",
            "setup": {"vehicle_model_id": NIU_MODEL_WITH_TOP_CASE},
            "authentication": {"credentials_id": credentials_id},
        },
        "master_data": {
            "vin": "WVWZZZ1JZXW000001",
            "license_plate": "RKL-832",
            "brand": "NIU",
            "model": "N1",
            "custom_name": "MyNiuN1",
            "fuel_type": "ELECTRIC",
            "year_of_production": "2020",
            "transmission": "AUTOMATIC",
            "vehicle_type": "MOPED",
            "remark": "Brand new",
        },
        "custom_fields": {"seats": "2", "color": "black"},
        "tags": ["in_maintenance", "demo_night"],
        "operation_status": "GARAGE",
    }


def niu_credentials(name: str = "Fleet Berlin") -> dict:
    return {"brand": "NIU", "name": name, "client_id": "berlin-client", "client_secret": "s3cr3t-Berlin-value"}


def niu_account(name: str = "Rider") -> dict:
    return {"brand": "NIU", "name": name, "account": "rider@example.com", "password": "Sc00ter-Passw0rd-42"}


def unit_body(brand: str, unit_id: str, model: str, **authentication) -> dict:
    unit = {"id": unit_id, "brand": brand, "setup": {"vehicle_model_id": model}}
    if authentication:
        unit["authentication"] = authentication
    return {"telematics_unit": unit}
