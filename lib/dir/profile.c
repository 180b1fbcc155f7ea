/*
 * smimepub: the directory profiles (SPEC §4) as data. What differs between Active Directory
 * and OpenLDAP-like directories lives in these tables; code asks a field, never a name.
 */
#include <stddef.h>
#include <strings.h>

#include "smimepub/dir.h"

static const char *const ad_contact_classes[] = {
	"top", "person", "organizationalPerson", "contact", NULL
};
static const char *const rfc_contact_classes[] = {
	"top", "person", "organizationalPerson", "inetOrgPerson", NULL
};
static const char *const match_attrs[] = { "mail", "proxyAddresses", NULL };

/* What ldifde and an ldapsearch of all attributes export, and no other directory has. */
static const char *const ad_export_markers[] = {
	"objectGUID", "objectSid", "objectCategory", "sAMAccountName", "instanceType", NULL
};

/* Every subtree search from a domain's root is referred to these; none holds recipients. */
static const char *const ad_partitions[] = {
	"CN=Configuration", "DC=DomainDnsZones", "DC=ForestDnsZones", NULL
};

/*
 * What Exchange's New-MailContact sets on an external mail contact besides what every
 * created contact gets (cn, displayName, mail, proxyAddresses SMTP:, targetAddress SMTP:),
 * in the order written. Sources and what is left to Exchange: doc/smimepub.1, EXCHANGE MAIL
 * CONTACTS. msExchRecipientDisplayType 6 is RemoteMailUser, the display type of a mail
 * contact; msExchRecipientTypeDetails 64 is MailContact; internetEncoding 1310720
 * (0x140000) and mAPIRecipient FALSE are what Exchange stamps on contacts it mail-enables.
 */
static const smp_recipient_attr ad_recipient_attrs[] = {
	{ "mailNickname", SMP_RECIPIENT_ALIAS, NULL },
	{ "msExchRecipientDisplayType", SMP_RECIPIENT_CONSTANT, "6" },
	{ "msExchRecipientTypeDetails", SMP_RECIPIENT_CONSTANT, "64" },
	{ "internetEncoding", SMP_RECIPIENT_CONSTANT, "1310720" },
	{ "mAPIRecipient", SMP_RECIPIENT_CONSTANT, "FALSE" },
	{ "showInAddressBook", SMP_RECIPIENT_ADDRESS_LISTS, NULL },
	{ NULL, SMP_RECIPIENT_CONSTANT, NULL }
};

/* certutil -dspublish: certificationAuthority must hold cn, cACertificate and both lists. */
static const char *const ad_ca_classes[] = { "top", "certificationAuthority", NULL };
static const char *const ad_ca_extra[] = {
	"certificateRevocationList", "authorityRevocationList", NULL
};
/* RFC 4523's pkiCA is auxiliary; applicationProcess is core.schema's structural class. */
static const char *const rfc_ca_classes[] = { "top", "applicationProcess", "pkiCA", NULL };

const smp_profile smp_profile_ad = {
	.name = "ad",
	.cert_attr = "userCertificate",
	.contact_class = "contact",
	.contact_classes = ad_contact_classes,
	.match_attrs = match_attrs,
	.proxy_prefix = "smtp:",
	.write_target_address = 1,
	.write_proxy_addresses = 1,
	.write_sn = 0,
	.walk_filter = "(|(userCertificate=*)(userSMIMECertificate=*))",
	.max_page_size = 1000,
	.rdn_attr = "CN",
	.max_value_size = 32768,
	.root_dse_capability = "1.2.840.113556.1.4.800",
	.export_markers = ad_export_markers,
	.recipientless_partitions = ad_partitions,
	.recipient_marker = "msExchRecipientTypeDetails",
	.recipient_attrs = ad_recipient_attrs,
	.ca_root_dse_attr = "configurationNamingContext",
	.ca_roots_rdns = "CN=Certification Authorities,CN=Public Key Services,CN=Services",
	.ca_intermediates_rdns = "CN=AIA,CN=Public Key Services,CN=Services",
	.ca_default_base_rdn = NULL,
	.ca_cert_attr = "cACertificate",
	.ca_cross_attr = "crossCertificatePair",
	.ca_classes = ad_ca_classes,
	.ca_extra_attrs = ad_ca_extra,
	.ca_sanitised_names = 1,
};

/*
 * OpenLDAP evaluates a filter item on an attribute its schema lacks as Undefined, so the
 * proxyAddresses half of the filter is harmless where the attribute does not exist.
 */
const smp_profile smp_profile_rfc = {
	.name = "rfc",
	.cert_attr = "userCertificate;binary",
	.contact_class = "inetOrgPerson",
	.contact_classes = rfc_contact_classes,
	.match_attrs = match_attrs,
	.proxy_prefix = "smtp:",
	.write_target_address = 0,
	.write_proxy_addresses = 0,
	.write_sn = 1,
	.walk_filter = "(|(userCertificate=*)(userCertificate;binary=*)(userSMIMECertificate=*))",
	.max_page_size = 0,
	.rdn_attr = "cn",
	.max_value_size = 0,
	.root_dse_capability = NULL,
	.export_markers = NULL,
	.recipientless_partitions = NULL,
	.recipient_marker = NULL,
	.recipient_attrs = NULL,
	.ca_root_dse_attr = NULL,
	.ca_roots_rdns = NULL,
	.ca_intermediates_rdns = NULL,
	.ca_default_base_rdn = "ou=CAs",
	.ca_cert_attr = "cACertificate;binary",
	.ca_cross_attr = NULL,
	.ca_classes = rfc_ca_classes,
	.ca_extra_attrs = NULL,
	.ca_sanitised_names = 0,
};

const smp_profile *const smp_profiles[] = { &smp_profile_ad, &smp_profile_rfc, NULL };

const smp_profile *smp_profile_for_schema(smp_schema schema)
{
	switch (schema) {
	case SMP_SCHEMA_AD:
		return &smp_profile_ad;
	case SMP_SCHEMA_RFC:
		return &smp_profile_rfc;
	default:
		return NULL;
	}
}

const smp_profile *smp_profile_for_export_attr(const char *attr)
{
	for (size_t i = 0; attr != NULL && smp_profiles[i] != NULL; i++)
		for (size_t k = 0; smp_profiles[i]->export_markers != NULL &&
				   smp_profiles[i]->export_markers[k] != NULL; k++)
			if (strcasecmp(smp_profiles[i]->export_markers[k], attr) == 0)
				return smp_profiles[i];
	return NULL;
}
