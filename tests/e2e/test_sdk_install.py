"""``pip install .`` without extras gives a working SDK: the client imports, a webhook
verifies and a BR Code decodes, in a fresh virtual environment with none of the server's
dependencies."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

CHECK = r"""
import base64, hashlib, hmac, sys, time
from connectpsp import ConnectPSP, webhooks
secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
body = b'{"event":"CashOut","status":"CONFIRMED","transactionId":"t","externalId":"e",' \
       b'"endToEndId":null,"pixKey":null,"feeAmount":0.01,"originalAmount":0.30,' \
       b'"finalAmount":0.31,"processingDate":"2025-12-11T20:06:12.117Z","errorCode":null,' \
       b'"errorMessage":null,"counterpart":{"name":"Ana Costa","document":"***.765.432-**",' \
       b'"bank":{}},"metadata":{}}'
ts = str(int(time.time()))
mac = hmac.new(b"k" * 24, b"msg_1." + ts.encode() + b"." + body, hashlib.sha256).digest()
event = webhooks.verify(body, {"webhook-id": "msg_1", "webhook-timestamp": ts,
                               "webhook-signature": "v1," + base64.b64encode(mac).decode()},
                        secret)
assert str(event.final_amount) == "0.31", event
from connectpsp import brcode  # read locally: BCB's static example (Manual, 2.6.3)
code = brcode.decode("00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
                     "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D")
assert code.merchant_name == "Fulano de Tal", code
for name in ("fastapi", "sqlalchemy", "pydantic"):
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        sys.exit(name + " is installed")
print("ok", ConnectPSP.__name__)
"""


@pytest.mark.slow
def test_pip_install_without_extras(tmp_path: Path) -> None:
    env_dir = tmp_path / "sdk-only"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(ROOT)], check=True, timeout=600
    )
    out = subprocess.run(
        [str(python), "-c", CHECK], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr + out.stdout
    assert out.stdout.strip() == "ok ConnectPSP"
    # The script is on PATH with the SDK alone: it says what it needs, in one line.
    command = subprocess.run(
        [str(env_dir / "bin" / "connectpsp"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert command.returncode == 2, command.stderr + command.stdout
    assert command.stdout == ""
    line = command.stderr.strip()
    assert "\n" not in line and "pip install 'connectpsp[server]'" in line, line
    assert "Traceback" not in command.stderr


TYPED_USE = """
from connectpsp import ConnectPSP

with ConnectPSP("http://127.0.0.1:8000", "id", "secret", "crypto", "app") as psp:
    available: int = psp.balance.get().available
"""


@pytest.mark.slow
def test_the_installed_sdk_is_typed(tmp_path: Path) -> None:
    """The wheel carries py.typed (PEP 561): mypy checks a user's calls against the SDK's
    types, instead of treating it as untyped."""
    env_dir = tmp_path / "sdk-only"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(ROOT)], check=True, timeout=600
    )
    (tmp_path / "use.py").write_text(TYPED_USE)
    mypy = ROOT / ".venv" / "bin" / "mypy"
    out = subprocess.run(
        [str(mypy), "--strict", "--no-incremental", "--python-executable", str(python), "use.py"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert "py.typed" not in out.stdout, out.stdout  # not "missing library stubs or py.typed"
    assert out.returncode == 1, out.stdout + out.stderr
    assert 'expression has type "Decimal", variable has type "int"' in out.stdout, out.stdout
