"""tests/clients/session.py through the PyPI `zimbra-client` library (SOAP 1.2 XML).

Its typed methods are used wherever it has one; GetInfo, ModifySignature and the
MsgAction ops it has no method for go through its own `request()` with the request
builders it exports, so the transport, envelope and fault parsing stay the library's.
"""
import xml.etree.ElementTree as ET
from importlib.metadata import version as _version

from zimbra_client import ZimbraClient, ZimbraConfig
from zimbra_client.account import build_modify_signature_request
from zimbra_client.errors import ZimbraSOAPFault
from zimbra_client.mail import build_msg_action_request
from zimbra_client.models import Recipient

ACCOUNT = "urn:zimbraAccount"


def version():
    return "zimbra-client " + _version("zimbra-client")


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _who(r):
    return {"email": r.email, "name": r.name, "type": r.type} if r else None


def _message(m):
    return {
        "id": m.id,
        "subject": m.subject,
        "fragment": m.fragment,
        "flags": "".join(sorted(m.flags)),
        "unread": m.unread,
        "flagged": m.flagged,
        "from": _who(m.from_),
        "to": [_who(r) for r in m.to],
    }


class Client:
    def __init__(self, url, user):
        self.user = user
        self.url = url
        self.client = None

    def _make(self, password):
        self.client = ZimbraClient(ZimbraConfig(host=self.url, email=self.user, password=password or "-"))

    def login_password(self, password):
        self._make(password)
        self.client.login()
        return self.client.is_authenticated

    def use_token(self, token):
        # The library only logs in by password; a session made elsewhere is its token.
        self._make(None)
        self.client._auth_token = token

    def fault_of(self, exc):
        if isinstance(exc, ZimbraSOAPFault):
            return (type(exc).__name__, exc.code, exc.message)
        return None

    def info(self):
        req = ET.Element("{%s}GetInfoRequest" % ACCOUNT, {"sections": "mbox,prefs,attrs,idents,sigs"})
        root = self.client.request(req)
        resp = next(e for e in root.iter() if _local(e.tag) == "GetInfoResponse")
        out = {"name": None, "prefs": {}, "attrs": {}, "identities": [], "signatures": []}
        for child in resp:
            tag = _local(child.tag)
            if tag == "name":
                out["name"] = child.text
            elif tag in ("prefs", "attrs"):
                for kv in child:
                    if kv.get("name") in ("zimbraPrefFromAddress", "zimbraPrefMailItemsPerPage",
                                          "zimbraPrefLocale", "zimbraMailQuota"):
                        out[tag][kv.get("name")] = kv.text
            elif tag == "identities":
                out["identities"] = sorted(i.get("name") for i in child)
            elif tag == "signatures":
                out["signatures"] = sorted(s.get("name") for s in child)
        return out

    def folders(self):
        found = self.client.list_folders()
        names = {f.id: f.name for f in found}
        return [{"name": f.name, "view": f.view, "parent": names.get(f.parent_id, "")} for f in found]

    def get_prefs(self, names):
        return {p.name: p.value for p in self.client.get_prefs(*names)}

    def all_pref_names(self):
        return {p.name for p in self.client.get_prefs()}

    def modify_prefs(self, values):
        return [p.name for p in self.client.set_prefs(values)]

    def create_signature(self, name, text, html):
        s = self.client.create_signature(name, text=text, html=html)
        return {"id": s.id, "name": s.name, "text": s.text_plain, "html": s.text_html}

    def modify_signature(self, sig_id, text):
        # `modify_signature()` expects the signature back in ModifySignatureResponse,
        # which Zimbra answers empty (ModifySignature.java): its request builder is used.
        self.client.request(build_modify_signature_request(sig_id, text=text))
        return None

    def signatures(self):
        return [{"id": s.id, "name": s.name, "text": s.text_plain, "html": s.text_html}
                for s in self.client.list_signatures()]

    def send(self, to, subject, text):
        return self.client.send_message(to=[Recipient(email=to)], subject=subject, text=text).message_id

    def search(self, query):
        return [_message(m) for m in self.client.search_messages(query).messages]

    def get_msg(self, msg_id):
        m = self.client.get_message(msg_id)
        out = _message(m)
        out["body"] = m.body_text
        out["headers"] = sorted(m.headers)
        return out

    def msg_action(self, msg_id, op, **attrs):
        c = self.client
        methods = {
            "read": lambda: c.mark_read(msg_id),
            "!read": lambda: c.mark_unread(msg_id),
            "tag": lambda: c.tag_message(msg_id, attrs["tn"]),
            "move": lambda: c.move_message(msg_id, attrs["l"]),
            "trash": lambda: c.trash_message(msg_id),
            "delete": lambda: c.delete_message(msg_id),
        }
        if op in methods:
            methods[op]()
            return None
        # flag / !flag: no method, the library's own request builder.
        root = c.request(build_msg_action_request(msg_id, op=op))
        act = next(e for e in root.iter() if _local(e.tag) == "action")
        return {"id": act.get("id"), "op": act.get("op")}
