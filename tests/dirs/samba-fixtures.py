# Test fixtures for the throwaway Samba AD DC made by tests/dirs/samba.sh.
# Run by samba.sh with the Python interpreter samba-tool uses (the samba modules live there):
#   PY samba-fixtures.py SMB_CONF WRITER_PW READER_PW
# Works on the local sam.ldb, before samba is started. Does in one process what several
# samba-tool calls (ou create, user create, user setexpiry, dsacl set) would do, and adds
# the one Exchange schema attribute the tests need (targetAddress, as Exchange defines it).
# With SMIMEPUB_AD_EXCHANGE=1 in the environment it also adds Exchange's recipient attributes
# and an Exchange organisation's default address lists (exchange_schema below).
import os
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


# Exchange's recipient attributes as its schema preparation (setup /PrepareSchema) defines
# them: attributeID, syntax and lDAPDisplayName as in Exchange's own schema files (the same
# definitions OpenChange loads into Samba: setup/AD/oc_provision_schema_attributes.ldif).
EXCHANGE_ATTRIBUTES = [
    # cn, attributeID, attributeSyntax, oMSyntax, lDAPDisplayName, extra lines
    ("ms-Exch-Mail-Nickname", "1.2.840.113556.1.2.447", "2.5.5.12", 64, "mailNickname",
     "rangeLower: 1\nrangeUpper: 64\nsearchFlags: 5\n"),
    ("ms-Exch-Recipient-Display-Type", "1.2.840.113556.1.4.7000.102.50730", "2.5.5.9", 2,
     "msExchRecipientDisplayType", "searchFlags: 1\n"),
    ("ms-Exch-Recipient-Type-Details", "1.2.840.113556.1.4.7000.102.50855", "2.5.5.16", 65,
     "msExchRecipientTypeDetails", "searchFlags: 1\n"),
    ("ms-Exch-Internet-Encoding", "1.2.840.113556.1.2.551", "2.5.5.9", 2, "internetEncoding", ""),
    ("ms-Exch-MAPI-Recipient", "1.2.840.113556.1.2.371", "2.5.5.8", 1, "mAPIRecipient",
     "searchFlags: 16\n"),
]

EXCHANGE_ORG = "Example Org"


def exchange_schema(samdb):
    """What Exchange's schema and organisation preparation leave behind that smimepub reads:
    the recipient attributes on mailRecipient (contact's auxiliary class), and in the
    configuration partition CN=Microsoft Exchange,CN=Services with the organisation's
    Address Lists Container holding the Default Global Address List and All Contacts.
    Exchange's own container classes (msExchOrganizationContainer ...) are not needed for
    that: plain containers stand in for them, and addressBookContainer, a base AD class,
    may sit below a container, as Exchange's schema extension allows."""
    schema = str(samdb.get_schema_basedn())
    for cn, oid, syntax, om, name, extra in EXCHANGE_ATTRIBUTES:
        samdb.add_ldif("""dn: CN=%s,%s
objectClass: top
objectClass: attributeSchema
cn: %s
adminDisplayName: %s
lDAPDisplayName: %s
attributeID: %s
attributeSyntax: %s
oMSyntax: %d
isSingleValued: TRUE
%s""" % (cn, schema, cn, cn, name, oid, syntax, om, extra))
    samdb.modify_ldif(SCHEMA_UPDATE_NOW)
    samdb.modify_ldif("dn: CN=Mail-Recipient,%s\nchangetype: modify\nadd: mayContain\n%s" % (
        schema, "".join("mayContain: %s\n" % a[4] for a in EXCHANGE_ATTRIBUTES)))
    samdb.modify_ldif("dn: CN=Address-Book-Container,%s\nchangetype: modify\n"
                      "add: possSuperiors\npossSuperiors: container\n" % schema)
    samdb.modify_ldif(SCHEMA_UPDATE_NOW)

    config = str(samdb.get_config_basedn())
    exch = "CN=Microsoft Exchange,CN=Services," + config
    org = "CN=%s,%s" % (EXCHANGE_ORG, exch)
    lists = "CN=Address Lists Container," + org
    for dn in (exch, org, lists, "CN=All Global Address Lists," + lists,
               "CN=All Address Lists," + lists):
        samdb.add({"dn": dn, "objectClass": "container"})
    for dn, search in (
            ("CN=Default Global Address List,CN=All Global Address Lists," + lists,
             "(&(mailNickname=*)(|(objectClass=user)(objectClass=contact)(objectClass=group)))"),
            ("CN=All Contacts,CN=All Address Lists," + lists,
             "(&(mailNickname=*)(objectCategory=person)(objectClass=contact))")):
        samdb.add({"dn": dn, "objectClass": "addressBookContainer",
                   "displayName": dn.split(",")[0][3:], "purportedSearch": search})


def main(conf, writer_pw, reader_pw):
    lp = LoadParm()
    lp.load(conf)
    lp.set("dsdb:schema update allowed", "true")  # this process only; smb.conf is unchanged
    samdb = SamDB(url=lp.samdb_url(), session_info=system_session(), lp=lp)
    base = str(samdb.domain_dn())
    partners = "OU=Partners," + base

    extend_schema(samdb)
    if os.environ.get("SMIMEPUB_AD_EXCHANGE") == "1":
        exchange_schema(samdb)

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
