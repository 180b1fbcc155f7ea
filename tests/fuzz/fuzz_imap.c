/*
 * Fuzz target: the untagged replies of the harvester's own IMAP commands
 * (lib/intake/imap_reply.c): SEARCH, CAPABILITY, FETCH (FLAGS RFC822.SIZE), LIST.
 * Properties: the parsers stay within the bytes given (a copy without a terminator); SEARCH's
 * UIDs come back ascending, without repeats and never 0; a probe found is for the UID asked.
 * And the mailbox names the client writes (modified UTF-7): the result is 7-bit, ends within
 * the buffer, and is the name itself when that is plain ASCII without '&'.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "intake/imap_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size > 0 ? size : 1);
	char name[64];
	uint32_t *uids = NULL;
	size_t n = 0;
	uint64_t sz;
	int seen;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	if (imap_reply_search(copy, size, &uids, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (uids[i] == 0 || (i > 0 && uids[i - 1] >= uids[i]))
				abort();
			/* the UID each SEARCH gives is one the probe may be asked about */
			(void)imap_reply_probe(copy, size, uids[i], &sz, &seen);
		}
		free(uids);
	}
	(void)imap_reply_caps(copy, size);
	(void)imap_reply_has(copy, size, "LIST");
	if (imap_reply_probe(copy, size, 7, &sz, &seen) != 0 && (sz != 0 || seen != 0))
		abort();  /* not found: the outputs stay cleared */
	if (imap_mailbox_name(copy, size, name, sizeof(name)) == 0) {
		size_t len = strnlen(name, sizeof(name));
		int plain = memchr(copy, '&', size) == NULL;

		for (size_t i = 0; i < size; i++)
			plain &= data[i] != 0 && data[i] < 0x7f;
		if (len == sizeof(name) || (plain && (len != size || memcmp(name, data, size) != 0)))
			abort();  /* unterminated, or a plain ASCII name changed */
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)name[i] >= 0x7f)
				abort();  /* modified UTF-7 is 7-bit */
	}
	free(copy);
	return 0;
}
