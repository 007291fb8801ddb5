"""What the pyln interop scripts share: pyln's imports (a missing pyln exits 2, so the Rust test
fails instead of skipping), BOLT 1 messages in pyln's CSV format, the bitcoin chain hash, and
encode/decode over pyln's message codec."""
import io
import sys

try:
    from pyln.proto.message import Message, MessageNamespace
    from pyln.proto.wire import PrivateKey, PublicKey, connect
    import pyln.spec.bolt7 as bolt7
except ImportError as err:  # pragma: no cover - reported to the Rust test
    print(f"cannot import pyln ({err}); pip install -r tests/interop/requirements.txt",
          file=sys.stderr)
    sys.exit(2)

# BOLT 1 messages in pyln's CSV format (pyln ships no bolt1 spec package).
BOLT1 = MessageNamespace([
    "msgtype,init,16",
    "msgdata,init,gflen,u16,",
    "msgdata,init,globalfeatures,byte,gflen",
    "msgdata,init,flen,u16,",
    "msgdata,init,features,byte,flen",
    "msgdata,init,tlvs,init_tlvs,",
    "tlvtype,init_tlvs,networks,1",
    "tlvdata,init_tlvs,networks,chains,chain_hash,...",
    "tlvtype,init_tlvs,remote_addr,3",
    "tlvdata,init_tlvs,remote_addr,data,byte,...",
    "msgtype,ping,18",
    "msgdata,ping,num_pong_bytes,u16,",
    "msgdata,ping,byteslen,u16,",
    "msgdata,ping,ignored,byte,byteslen",
    "msgtype,pong,19",
    "msgdata,pong,byteslen,u16,",
    "msgdata,pong,ignored,byte,byteslen",
])
# Bitcoin mainnet genesis block hash, in wire (internal) byte order.
BITCOIN_CHAIN = bytes.fromhex("6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000")


def encode(namespace, name, **fields):
    out = io.BytesIO()
    Message(namespace.get_msgtype(name), **fields).write(out)
    return out.getvalue()


def decode(namespace, raw):
    return Message.read(namespace, io.BytesIO(raw))
