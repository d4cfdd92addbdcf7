/*
 * ynode.c — libyaml parser events turned into a tree with marks.  See ynode.h.
 *
 * The parser is driven event by event, so a pathological input (a million
 * nested "[") is refused at YNODE_MAX_DEPTH before any memory is spent on it.
 * The input encoding is forced to UTF-8: a stray 0xFF 0xFE at the start of
 * binary garbage must not switch libyaml to UTF-16.
 */
#include "ynode.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* The root node is allocated with the file name behind it: freeing the root frees the name. */
struct ydoc {
	struct ynode node;
	char file[];
};

struct loader {
	const char *file;            /* interned name (in the root ydoc) */
	const char *buf;
	size_t len;
	char *err;
	size_t errlen;
	int rc;
};

/* ---- private ------------------------------------------------------------ */

static void
set_err(struct loader *l, int line, int col, int rc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (l->rc != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(l->err, l->errlen, "%s:%d:%d: %s", l->file, line, col, msg);
	else
		snprintf(l->err, l->errlen, "%s: %s", l->file, msg);
	l->rc = rc;
}

/* Line and column (1-based, in characters) of byte OFFSET of the input. */
static void
offset_mark(const struct loader *l, size_t offset, int *line, int *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	if (offset > l->len)
		offset = l->len;
	for (i = 0; i < offset; i++) {
		unsigned char c = (unsigned char)l->buf[i];

		if (c == '\n') {
			(*line)++;
			*col = 1;
		} else if ((c & 0xC0) != 0x80) {
			(*col)++;
		}
	}
}

static void
parser_error(struct loader *l, const yaml_parser_t *p)
{
	int line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		set_err(l, 0, 0, -ENOMEM, "out of memory while parsing YAML");
		break;
	case YAML_READER_ERROR:
		offset_mark(l, p->problem_offset, &line, &col);
		if (p->problem_value != -1)
			set_err(l, line, col, -EINVAL, "%s 0x%02X (the file is not UTF-8 text)",
			    p->problem, (unsigned)p->problem_value & 0xFFu);
		else
			set_err(l, line, col, -EINVAL, "%s (the file is not UTF-8 text)", p->problem);
		break;
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		if (p->context != NULL)
			set_err(l, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
			    -EINVAL, "%s (%s at line %d, column %d)", p->problem, p->context,
			    (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
		else
			set_err(l, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
			    -EINVAL, "%s", p->problem ? p->problem : "syntax error");
		break;
	default:
		set_err(l, 0, 0, -EINVAL, "YAML error");
		break;
	}
}

static void
free_children(struct ynode *n)
{
	size_t i;

	if (n->kind == YNODE_SCALAR) {
		free(n->scalar);
		return;
	}
	for (i = 0; i < n->len; i++) {
		if (n->items != NULL && n->items[i] != NULL) {
			free_children(n->items[i]);
			free(n->items[i]);
		}
		if (n->keys != NULL && n->keys[i] != NULL) {
			free_children(n->keys[i]);
			free(n->keys[i]);
		}
	}
	free(n->items);
	free(n->keys);
}

/* Append CHILD (and KEY for maps) to N.  0 or -ENOMEM. */
static int
append(struct ynode *n, size_t *cap, struct ynode *key, struct ynode *child)
{
	if (n->len == *cap) {
		size_t ncap = *cap ? *cap * 2 : 4;
		struct ynode **it = realloc(n->items, ncap * sizeof(*it));

		if (it == NULL)
			return -ENOMEM;
		n->items = it;
		if (n->kind == YNODE_MAP) {
			struct ynode **k = realloc(n->keys, ncap * sizeof(*k));

			if (k == NULL)
				return -ENOMEM;
			n->keys = k;
		}
		*cap = ncap;
	}
	if (n->kind == YNODE_MAP)
		n->keys[n->len] = key;
	n->items[n->len++] = child;
	return 0;
}

static const char *
event_anchor(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT: return (const char *)ev->data.scalar.anchor;
	case YAML_SEQUENCE_START_EVENT: return (const char *)ev->data.sequence_start.anchor;
	case YAML_MAPPING_START_EVENT: return (const char *)ev->data.mapping_start.anchor;
	default: return NULL;
	}
}

/*
 * Build the node that starts with event EV (already parsed).  Consumes the
 * events of its children.  *OUT is NULL on error (l->rc set).  ROOT is
 * non-NULL only for the document's root node (pre-allocated).
 */
static void
build(struct loader *l, yaml_parser_t *p, yaml_event_t *ev, int depth, struct ynode *root,
    struct ynode **out)
{
	struct ynode *n = root;
	size_t cap = 0;
	int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;

	*out = NULL;
	if (ev->type == YAML_ALIAS_EVENT) {
		set_err(l, line, col, -EINVAL, "aliases (*%s) are not allowed in plans",
		    (const char *)ev->data.alias.anchor);
		return;
	}
	if (event_anchor(ev) != NULL) {
		set_err(l, line, col, -EINVAL, "anchors (&%s) are not allowed in plans",
		    event_anchor(ev));
		return;
	}
	if (ev->type != YAML_SCALAR_EVENT && ev->type != YAML_SEQUENCE_START_EVENT &&
	    ev->type != YAML_MAPPING_START_EVENT) {
		set_err(l, line, col, -EINVAL, "unexpected YAML event");
		return;
	}
	if (depth > YNODE_MAX_DEPTH) {
		set_err(l, line, col, -EINVAL, "nesting too deep (more than %d levels)",
		    YNODE_MAX_DEPTH);
		return;
	}
	if (n == NULL && (n = calloc(1, sizeof(*n))) == NULL) {
		set_err(l, 0, 0, -ENOMEM, "out of memory");
		return;
	}
	n->file = l->file;
	n->line = line;
	n->col = col;

	if (ev->type == YAML_SCALAR_EVENT) {
		size_t len = ev->data.scalar.length;

		n->kind = YNODE_SCALAR;
		if (memchr(ev->data.scalar.value, '\0', len) != NULL) {
			set_err(l, line, col, -EINVAL, "NUL character in a scalar");
			goto fail;
		}
		n->scalar = malloc(len + 1);
		if (n->scalar == NULL) {
			set_err(l, 0, 0, -ENOMEM, "out of memory");
			goto fail;
		}
		memcpy(n->scalar, ev->data.scalar.value, len);
		n->scalar[len] = '\0';
		n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
		*out = n;
		return;
	}

	n->kind = ev->type == YAML_SEQUENCE_START_EVENT ? YNODE_SEQ : YNODE_MAP;
	for (;;) {
		yaml_event_t cev;
		struct ynode *key = NULL, *val = NULL;

		if (!yaml_parser_parse(p, &cev)) {
			parser_error(l, p);
			goto fail;
		}
		if (cev.type == YAML_SEQUENCE_END_EVENT || cev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&cev);
			break;
		}
		build(l, p, &cev, depth + 1, NULL, n->kind == YNODE_MAP ? &key : &val);
		yaml_event_delete(&cev);
		if (l->rc != 0)
			goto fail;
		if (n->kind == YNODE_MAP) {
			size_t i;

			if (key->kind != YNODE_SCALAR) {
				set_err(l, key->line, key->col, -EINVAL,
				    "mapping keys must be scalars, not a %s", ynode_kind_name(key->kind));
				free_children(key);
				free(key);
				goto fail;
			}
			for (i = 0; i < n->len; i++) {
				if (strcmp(n->keys[i]->scalar, key->scalar) == 0) {
					set_err(l, key->line, key->col, -EINVAL,
					    "duplicate key '%s' (first at line %d, column %d)",
					    key->scalar, n->keys[i]->line, n->keys[i]->col);
					free_children(key);
					free(key);
					goto fail;
				}
			}
			if (!yaml_parser_parse(p, &cev)) {
				parser_error(l, p);
				free_children(key);
				free(key);
				goto fail;
			}
			build(l, p, &cev, depth + 1, NULL, &val);
			yaml_event_delete(&cev);
			if (l->rc != 0) {
				free_children(key);
				free(key);
				goto fail;
			}
		}
		if (append(n, &cap, key, val) != 0) {
			set_err(l, 0, 0, -ENOMEM, "out of memory");
			if (key != NULL) {
				free_children(key);
				free(key);
			}
			free_children(val);
			free(val);
			goto fail;
		}
	}
	*out = n;
	return;
fail:
	free_children(n);
	if (n != root) {
		free(n);
	} else {
		/* the root belongs to the caller's ydoc: leave it empty, not dangling */
		n->scalar = NULL;
		n->items = NULL;
		n->keys = NULL;
		n->len = 0;
	}
}

/* ---- public ------------------------------------------------------------- */

int
ynode_load_buffer(const char *name, const char *buf, size_t len, struct ynode **out,
    char *err, size_t errlen)
{
	struct loader l = { 0 };
	struct ydoc *doc;
	yaml_parser_t p;
	yaml_event_t ev;
	struct ynode *root = NULL;
	int started = 0;
	size_t nlen = strlen(name);

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	doc = calloc(1, sizeof(*doc) + nlen + 1);
	if (doc == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	memcpy(doc->file, name, nlen + 1);
	l.file = doc->file;
	l.buf = buf;
	l.len = len;
	l.err = err;
	l.errlen = errlen;

	if (!yaml_parser_initialize(&p)) {
		snprintf(err, errlen, "%s: out of memory", name);
		free(doc);
		return -ENOMEM;
	}
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);

	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			parser_error(&l, &p);
			break;
		}
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type == YAML_STREAM_START_EVENT || ev.type == YAML_DOCUMENT_END_EVENT) {
			yaml_event_delete(&ev);
			continue;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT) {
			if (started) {
				set_err(&l, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
				    -EINVAL, "only one YAML document per file is allowed");
				yaml_event_delete(&ev);
				break;
			}
			started = 1;
			yaml_event_delete(&ev);
			continue;
		}
		build(&l, &p, &ev, 1, &doc->node, &root);
		yaml_event_delete(&ev);
		if (l.rc != 0)
			break;
	}
	yaml_parser_delete(&p);

	if (l.rc == 0 && (root == NULL || (root->kind == YNODE_SCALAR && !root->quoted &&
	    (root->scalar[0] == '\0' || strcmp(root->scalar, "~") == 0 ||
	    strcmp(root->scalar, "null") == 0)))) {
		set_err(&l, 0, 0, -ENODATA, "empty document");
	}
	if (l.rc != 0) {
		free_children(&doc->node);
		free(doc);
		return l.rc;
	}
	*out = &doc->node;
	return 0;
}

int
ynode_load_file(const char *file, size_t maxbytes, struct ynode **out, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, rc;

	*out = NULL;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", file, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", file, strerror(-rc));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s: not a regular file", file);
		goto fail;
	}
	if ((unsigned long long)st.st_size > maxbytes) {
		rc = -EFBIG;
		snprintf(err, errlen, "%s: file too large (%lld bytes; the limit is %zu)", file,
		    (long long)st.st_size, maxbytes);
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", file);
		goto fail;
	}
	while (len <= maxbytes) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", file, strerror(-rc));
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == (size_t)st.st_size + 1) {
			/* grew while we read it */
			rc = -EFBIG;
			snprintf(err, errlen, "%s: file changed while being read", file);
			goto fail;
		}
	}
	close(fd);
	fd = -1;
	rc = ynode_load_buffer(file, buf, len, out, err, errlen);
	free(buf);
	return rc;
fail:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

void
ynode_free(struct ynode *root)
{
	if (root == NULL)
		return;
	free_children(root);
	free((struct ydoc *)(void *)root);
}

const struct ynode *
ynode_get(const struct ynode *n, const char *key)
{
	size_t i;

	if (n == NULL || n->kind != YNODE_MAP)
		return NULL;
	for (i = 0; i < n->len; i++)
		if (strcmp(n->keys[i]->scalar, key) == 0)
			return n->items[i];
	return NULL;
}

const char *
ynode_kind_name(enum ynode_kind k)
{
	switch (k) {
	case YNODE_SCALAR: return "scalar";
	case YNODE_SEQ: return "list";
	case YNODE_MAP: return "map";
	}
	return "node";
}
