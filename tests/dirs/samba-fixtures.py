# Test fixtures for the throwaway Samba AD DC made by tests/dirs/samba.sh.
# Run by samba.sh with the Python interpreter samba-tool uses (the samba modules live there):
#   PY samba-fixtures.py SMB_CONF WRITER_PW READER_PW
# Works on the local sam.ldb, before samba is started. Does in one process what several
# samba-tool calls (ou create, user create, user setexpiry, dsacl set) would do, and adds
# the one Exchange schema attribute the tests need (targetAddress, as Exchange defines it).
import sys

from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB
from samba.sd_utils import SDUtils

# schemaIDGUIDs of the attributes the certwriter may write (MS-ADA3 / MS-ADA2).
USER_CERTIFICATE = "bf967a7f-0de6-11d0-a285-00aa003049e2"
USER_SMIME_CERTIFICATE = "e16a9db2-403c-11d1-a9c0-0000f80367c1"

SCHEMA_UPDATE_NOW = """dn:
changetype: modify
add: schemaUpdateNow
schemaUpdateNow: 1
"""


def extend_schema(samdb):
    """Add Exchange's targetAddress (ms-Exch-Target-Address) to mailRecipient, as Exchange's
    schema preparation does; Samba's base AD schema has proxyAddresses but not targetAddress."""
    schema = str(samdb.get_schema_basedn())
    samdb.add_ldif("""dn: CN=ms-Exch-Target-Address,%s
objectClass: top
objectClass: attributeSchema
cn: ms-Exch-Target-Address
adminDisplayName: ms-Exch-Target-Address
lDAPDisplayName: targetAddress
attributeID: 1.2.840.113556.1.2.352
attributeSyntax: 2.5.5.12
oMSyntax: 64
isSingleValued: TRUE
rangeLower: 1
rangeUpper: 1123
searchFlags: 1
""" % schema)
    samdb.modify_ldif(SCHEMA_UPDATE_NOW)
    samdb.modify_ldif("""dn: CN=Mail-Recipient,%s
changetype: modify
add: mayContain
mayContain: targetAddress
""" % schema)
    samdb.modify_ldif(SCHEMA_UPDATE_NOW)


def main(conf, writer_pw, reader_pw):
    lp = LoadParm()
    lp.load(conf)
    lp.set("dsdb:schema update allowed", "true")  # this process only; smb.conf is unchanged
    samdb = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
    base = str(samdb.domain_dn())
    partners = "OU=Partners," + base

    extend_schema(samdb)

    samdb.create_ou(partners, description="external mail contacts; certwriter may write their certificates")
    samdb.newuser("certwriter", writer_pw,
                  description="may write userCertificate and userSMIMECertificate under OU=Partners")
    samdb.newuser("reader", reader_pw, description="default rights: reads, writes nothing")
    for name in ("Administrator", "certwriter", "reader"):
        samdb.setexpiry("(sAMAccountName=%s)" % name, 0, no_expiry_req=True)

    res = samdb.search(base=base, expression="(sAMAccountName=certwriter)", attrs=["objectSid"])
    sid = samdb.schema_format_value("objectSID", res[0]["objectSid"][0]).decode()
    sd = SDUtils(samdb)
    # Object-specific ACEs: write property, inherited by every object below the OU.
    for guid in (USER_CERTIFICATE, USER_SMIME_CERTIFICATE):
        sd.dacl_add_ace(partners, "(OA;CI;WP;%s;;%s)" % (guid, sid))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: samba-fixtures.py SMB_CONF WRITER_PW READER_PW")
    main(*sys.argv[1:])
