/*
 * ynode.h — a YAML document as a tree with source marks.
 *
 * Loaded with libyaml.  Every node keeps the file, line and column (1-based)
 * of where it starts so any consumer can report FILE:LINE:COLUMN errors.
 * Anchors/aliases are rejected (no billion-laughs), nesting is bounded
 * (YNODE_MAX_DEPTH) and so is the input size (caller's choice).
 * Map keys are scalars; duplicate keys are an error.
 */
#ifndef ROLLOUT_YNODE_H
#define ROLLOUT_YNODE_H

#include <stddef.h>

#define YNODE_MAX_DEPTH 64

enum ynode_kind { YNODE_SCALAR = 1, YNODE_SEQ = 2, YNODE_MAP = 3 };

struct ynode {
	enum ynode_kind kind;
	const char *file;        /* interned; owned by the root document */
	int line, col;           /* 1-based */
	char *scalar;            /* SCALAR: NUL-terminated text */
	int quoted;              /* SCALAR: was quoted in the source (so "true" is a string) */
	size_t len;              /* SEQ/MAP: number of items / pairs */
	struct ynode **items;    /* SEQ: items; MAP: values */
	struct ynode **keys;     /* MAP: keys (scalars) */
};

/*
 * Parse FILE (at most MAXBYTES bytes) into *OUT.  On failure returns a
 * negative errno and writes "FILE:LINE:COLUMN: message" (or "FILE: message"
 * when there is no position) into ERR.  An empty document yields -ENODATA.
 */
int ynode_load_file(const char *file, size_t maxbytes, struct ynode **out, char *err, size_t errlen);
/* Same from a buffer; NAME is used in marks. */
int ynode_load_buffer(const char *name, const char *buf, size_t len, struct ynode **out,
    char *err, size_t errlen);
/* Free a tree returned by ynode_load_*. */
void ynode_free(struct ynode *root);
/* Map lookup; NULL when absent or when N is not a map. */
const struct ynode *ynode_get(const struct ynode *n, const char *key);
const char *ynode_kind_name(enum ynode_kind k);

#endif
