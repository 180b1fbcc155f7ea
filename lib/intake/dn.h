/*
 * smimepub internal: the attribute types DNs are compared by. One table serves both ways a DN
 * is made here -- from a certificate's subject (smp_name_to_dn) and from a DN string read
 * from an export (the LDIF backend's keys) -- so the two always agree on what a type is.
 */
#ifndef SMP_INTAKE_DN_H
#define SMP_INTAKE_DN_H

#include <stddef.h>

/*
 * The key of the attribute type written as type (len bytes, not NUL-terminated) in a DN
 * string: for a type in the table, under any of its names (any case) or its dotted OID, the
 * name smp_name_to_dn writes, lower-cased ("cn", "ou", "dc", "serialnumber"), or the dotted
 * OID when that writes the OID; NULL for any other type (the caller compares it as written,
 * case-insensitively).
 */
const char *dn_attr_key(const char *type, size_t len);

#endif
