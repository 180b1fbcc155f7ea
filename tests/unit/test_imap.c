/*
 * Unit tests: the IMAP replies the harvester reads (lib/intake/imap_reply.c) and the mailbox
 * URL it accepts (smp_imap_open refuses a bad one before it connects anywhere).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "intake/imap_reply.h"
#include "smimepub/imap.h"

#define S(lit) lit, sizeof(lit) - 1

static void search_sorts_and_drops_repeats(void **state)
{
	uint32_t *uids = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(imap_reply_search(S("* 3 EXISTS\r\n* SEARCH 9 2 4294967295 2 5\r\n"
					     "* 1 RECENT\r\n"), &uids, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(uids[0], 2);
	assert_int_equal(uids[1], 5);
	assert_int_equal(uids[2], 9);
	assert_int_equal(uids[3], 4294967295u);
	free(uids);
	/* several SEARCH lines add up; none is no UIDs, not an error */
	assert_int_equal(imap_reply_search(S("* SEARCH 4\r\n* SEARCH 1\r\n"), &uids, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(uids[0], 1);
	free(uids);
	assert_int_equal(imap_reply_search(S("* SEARCH\r\n"), &uids, &n), 0);
	assert_int_equal(n, 0);
	assert_null(uids);
	assert_int_equal(imap_reply_search(S(""), &uids, &n), 0);
	assert_int_equal(n, 0);
}

static void search_refuses_what_is_not_a_uid(void **state)
{
	static const char *const bad[] = {
		"* SEARCH 0\r\n",                 /* UIDs start at 1 */
		"* SEARCH 4294967296\r\n",        /* over 32 bits */
		"* SEARCH 12x\r\n",
		"* SEARCH 1 (MODSEQ 4)\r\n",      /* not asked for */
		"* SEARCH -1\r\n",
		"* SEARCH 99999999999999999999999\r\n",
	};
	uint32_t *uids = NULL;
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(imap_reply_search(bad[i], strlen(bad[i]), &uids, &n), SMP_ERR_BADINPUT);
		assert_null(uids);
		assert_int_equal(n, 0);
	}
	/* a line that only looks like SEARCH from far away is not one */
	assert_int_equal(imap_reply_search(S("* SEARCHES 1\r\nA1 SEARCH 2\r\n"), &uids, &n), 0);
	assert_int_equal(n, 0);
}

static void caps(void **state)
{
	(void)state;
	assert_int_equal(imap_reply_caps(S("* CAPABILITY IMAP4rev1 IDLE uidplus move\r\n")),
			 IMAP_CAP_MOVE | IMAP_CAP_UIDPLUS | IMAP_CAP_IDLE);
	assert_int_equal(imap_reply_caps(S("* CAPABILITY IMAP4rev1 MOVED XMOVE UIDPLUSX\r\n")), 0);
	assert_int_equal(imap_reply_caps(S("* OK [CAPABILITY IMAP4rev1 MOVE]\r\n")), 0);
	assert_int_equal(imap_reply_caps(S("* CAPABILITY IMAP4rev1\r\n* CAPABILITY MOVE\r\n")),
			 IMAP_CAP_MOVE);
}

static void probe(void **state)
{
	uint64_t size = 1;
	int seen = 1;

	(void)state;
	assert_int_equal(imap_reply_probe(S("* 12 FETCH (UID 7 FLAGS (\\Seen $SmimeHarvested) "
					    "RFC822.SIZE 4711)\r\n"), 7, &size, &seen), 0);
	assert_int_equal(size, 4711);
	assert_int_equal(seen, 1);
	assert_int_equal(imap_reply_probe(S("* 1 FETCH (FLAGS (\\Flagged) RFC822.SIZE 20971520 "
					    "UID 9)\r\n"), 9, &size, &seen), 0);
	assert_int_equal(size, 20971520);
	assert_int_equal(seen, 0);
	/* another UID's line, a line without the size, a literal: not found, outputs cleared */
	assert_int_equal(imap_reply_probe(S("* 1 FETCH (UID 8 FLAGS () RFC822.SIZE 5)\r\n"), 7,
					  &size, &seen), SMP_ERR_NOTFOUND);
	assert_int_equal(size, 0);
	assert_int_equal(imap_reply_probe(S("* 1 FETCH (UID 7 FLAGS ())\r\n"), 7, &size, &seen),
			 SMP_ERR_NOTFOUND);
	assert_int_equal(imap_reply_probe(S("* 1 FETCH (UID 7 BODY[] {5}\r\nhello)\r\n"), 7, &size,
					  &seen), SMP_ERR_NOTFOUND);
	assert_int_equal(imap_reply_probe(S("* 1 FETCH (UID 7 RFC822.SIZE"), 7, &size, &seen),
			 SMP_ERR_NOTFOUND);
}

static void has(void **state)
{
	(void)state;
	assert_true(imap_reply_has(S("* LIST (\\HasNoChildren) \".\" Done\r\n"), "LIST"));
	assert_false(imap_reply_has(S("* LSUB () \".\" Done\r\n"), "LIST"));
	assert_false(imap_reply_has(S("A3 OK LIST completed\r\n"), "LIST"));
	assert_false(imap_reply_has(S(""), "LIST"));
}

static void folder_names(void **state)
{
	(void)state;
	assert_true(smp_imap_folder_ok("Done"));
	assert_true(smp_imap_folder_ok("INBOX.certificates done"));
	assert_false(smp_imap_folder_ok(""));
	assert_false(smp_imap_folder_ok("a\"b"));
	assert_false(smp_imap_folder_ok("a\\b"));
	assert_false(smp_imap_folder_ok("a\r\nA1 DELETE INBOX"));
	assert_true(smp_imap_folder_ok("Erledigt \xe2\x9c\x93 & gepr\xc3\xbc" "ft"));
	assert_false(smp_imap_folder_ok("Erledigt\xc3"));      /* cut UTF-8 */
	assert_false(smp_imap_folder_ok("a\xc0\xaf" "b"));        /* overlong '/' */
	assert_false(smp_imap_folder_ok("a\x7f"));
}

/* Mailbox names on the wire: RFC 3501 5.1.3's modified UTF-7, checked against its examples. */
static void mailbox_names(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(imap_mailbox_name(S("INBOX.Done"), out, sizeof(out)), 0);
	assert_string_equal(out, "INBOX.Done");
	assert_int_equal(imap_mailbox_name(S("Entw\xc3\xbcrfe"), out, sizeof(out)), 0);
	assert_string_equal(out, "Entw&APw-rfe");
	assert_int_equal(imap_mailbox_name(S("Certs & Keys"), out, sizeof(out)), 0);
	assert_string_equal(out, "Certs &- Keys");
	/* RFC 3501's own: "~peter/mail/" + Japanese + "/" + Chinese */
	assert_int_equal(imap_mailbox_name(S("~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
					     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"),
					   out, sizeof(out)), 0);
	assert_string_equal(out, "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	assert_int_equal(imap_mailbox_name(S("x\xffy"), out, sizeof(out)), SMP_ERR_BADINPUT);
	assert_int_equal(imap_mailbox_name(S("\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4"), out, 8),
			 SMP_ERR_BADINPUT);  /* "&AOQA5ADkAOQ-" does not fit */
	assert_int_equal(imap_mailbox_name(S("12345678"), out, 8), SMP_ERR_BADINPUT);
}

static void urls_refused_before_connecting(void **state)
{
	static const char *const bad[] = {
		"https://certs@127.0.0.1/INBOX",
		"imaps://certs:secret@127.0.0.1/INBOX",  /* a password in argv */
		"imaps://127.0.0.1/INBOX",               /* whose mailbox? */
		"imaps://certs@127.0.0.1/INBOX/;UID=5",
		"imaps://certs@127.0.0.1/INBOX?SUBJECT%20x",
		"not a url",
		"imaps://certs@127.0.0.1/Zertifikate%FF",         /* not UTF-8 */
		"imaps://certs@127.0.0.1/INBOX%0D%0AA1%20LOGOUT",  /* a line of its own */
		"imaps://certs@127.0.0.1/IN%00BOX",
	};
	smp_imap_options o = SMP_IMAP_OPTIONS_INIT;
	smp_error err = SMP_ERROR_INIT;
	smp_imap *m = NULL;

	(void)state;
	o.password = "x";
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		o.url = bad[i];
		assert_int_equal(smp_imap_open(&m, &o, &err), SMP_ERR_USAGE);
		assert_null(m);
		assert_non_null(strstr(err.msg, bad[i]));
	}
	/* a password and a token, or neither */
	o.url = "imaps://certs@127.0.0.1/INBOX";
	o.token_file = "/nonexistent";
	assert_int_equal(smp_imap_open(&m, &o, &err), SMP_ERR_USAGE);
	o.password = NULL;
	o.token_file = NULL;
	assert_int_equal(smp_imap_open(&m, &o, &err), SMP_ERR_USAGE);
	/* a mailbox in UTF-8, as typed or percent-encoded, is a name */
	assert_int_equal(smp_imap_check_url("imaps://certs@127.0.0.1/Zertifikate/Eing\xc3\xa4"
					    "nge", &err), 0);
	assert_int_equal(smp_imap_check_url("imaps://certs@127.0.0.1/Eing%C3%A4nge%20%26%20Co",
					    &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(search_sorts_and_drops_repeats),
		cmocka_unit_test(search_refuses_what_is_not_a_uid),
		cmocka_unit_test(caps),
		cmocka_unit_test(probe),
		cmocka_unit_test(has),
		cmocka_unit_test(folder_names),
		cmocka_unit_test(mailbox_names),
		cmocka_unit_test(urls_refused_before_connecting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
