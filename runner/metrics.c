/*
 * metrics.c — the metrics store (metrics.h).
 *
 * Each series keeps three bounded rings:
 *   raw    the last METRICS_RAW_MAX samples (t, value, running sum): exact
 *          answers for every function while the window fits in it;
 *   fine   10-second buckets (count, sum, min, max, running sums), 22.7 h;
 *   coarse 5-minute buckets, 14.2 days.
 * Capacities are powers of two (index by mask, no division on the hot path).
 * A window query uses the finest ring that still holds the window's start.
 * Sums and counts over any window cost O(log n) thanks to the running sums;
 * min/max scan the window; quantiles select over the raw samples, or, when
 * the window reaches beyond them, over bucket means (p50) or bucket maxima
 * (p95, p99: an upper bound, never optimistic).
 * Rings grow by doubling up to their maximum, so a quiet series stays small.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "metrics.h"

#define METRICS_RAW_MAX     8192
#define METRICS_MAX_SERIES  4096
#define METRICS_NTIERS      2

static const struct {
	int64_t width_ms;
	size_t max;
} metrics_tier_spec[METRICS_NTIERS] = {
	{ 10 * 1000, 8192 },            /* 22.7 h */
	{ 300 * 1000, 4096 },           /* 14.2 d */
};

struct raw_sample {
	int64_t t;
	double v;
	double cum;                     /* sum of every sample up to and including this one */
};

struct bucket {
	int64_t start;
	uint64_t count;
	double sum, min, max;
	double cum_sum;                 /* running totals up to and including this bucket */
	uint64_t cum_count;
};

struct ring {
	void *items;
	size_t size;                    /* bytes per item */
	size_t cap, max, len, head;     /* head: index of the oldest */
	int dropped;                    /* something fell off the old end */
};

struct metrics_series {
	char *name;
	char *help;
	enum metric_type type;
	uint64_t total;
	double latest;
	int64_t latest_t;
	double cum;
	struct ring raw;
	struct ring tier[METRICS_NTIERS];
};

struct metrics {
	struct clock *clk;
	struct metrics_series **slots;  /* open addressing */
	size_t nslots;
	struct metrics_series **all;    /* creation order */
	size_t nall;
	uint64_t refused;               /* samples for series beyond the limit */
	double *scratch;
	size_t nscratch;
	struct expr_metrics view;
};

/* ---- rings ---------------------------------------------------------- */

static void *
ring_at(const struct ring *r, size_t i)
{
	return (char *)r->items + ((r->head + i) & (r->cap - 1)) * r->size;
}

/* A slot for a new newest item (old end dropped when full), or NULL on ENOMEM. */
static inline __attribute__((always_inline)) void *
ring_push(struct ring *r)
{
	if (r->len == r->cap && r->cap == r->max) {
		/* full at its maximum: the common case on a busy series */
		void *slot = (char *)r->items + r->head * r->size;

		r->head = (r->head + 1) & (r->cap - 1);
		r->dropped = 1;
		return slot;
	}
	if (r->len == r->cap && r->cap < r->max) {
		size_t ncap = r->cap ? r->cap * 2 : 16, i;
		char *n;

		if (ncap > r->max)
			ncap = r->max;
		n = malloc(ncap * r->size);
		if (n == NULL)
			return NULL;
		for (i = 0; i < r->len; i++)
			memcpy(n + i * r->size, ring_at(r, i), r->size);
		free(r->items);
		r->items = n;
		r->cap = ncap;
		r->head = 0;
	}
	if (r->len == r->cap) {
		r->head = (r->head + 1) & (r->cap - 1);
		r->len--;
		r->dropped = 1;
	}
	r->len++;
	return ring_at(r, r->len - 1);
}

/* ---- series lookup --------------------------------------------------- */

static uint64_t
metrics_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct metrics_series *
metrics_find(const struct metrics *m, const char *name)
{
	size_t i = metrics_hash(name) & (m->nslots - 1);

	while (m->slots[i] != NULL) {
		if (strcmp(m->slots[i]->name, name) == 0)
			return m->slots[i];
		i = (i + 1) & (m->nslots - 1);
	}
	return NULL;
}

static void
metrics_insert_slot(struct metrics_series **slots, size_t nslots, struct metrics_series *s)
{
	size_t i = metrics_hash(s->name) & (nslots - 1);

	while (slots[i] != NULL)
		i = (i + 1) & (nslots - 1);
	slots[i] = s;
}

static struct metrics_series *
metrics_get_or_add(struct metrics *m, const char *name)
{
	struct metrics_series *s = metrics_find(m, name), **all;
	size_t i;

	if (s != NULL)
		return s;
	if (m->nall >= METRICS_MAX_SERIES)
		return NULL;
	if ((m->nall + 1) * 2 > m->nslots) {
		size_t n = m->nslots * 2;
		struct metrics_series **slots = calloc(n, sizeof(*slots));

		if (slots == NULL)
			return NULL;
		for (i = 0; i < m->nall; i++)
			metrics_insert_slot(slots, n, m->all[i]);
		free(m->slots);
		m->slots = slots;
		m->nslots = n;
	}
	all = realloc(m->all, (m->nall + 1) * sizeof(*all));
	if (all == NULL)
		return NULL;
	m->all = all;
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->name = strdup(name)) == NULL) {
		free(s);
		return NULL;
	}
	s->raw.size = sizeof(struct raw_sample);
	s->raw.max = METRICS_RAW_MAX;
	for (i = 0; i < METRICS_NTIERS; i++) {
		s->tier[i].size = sizeof(struct bucket);
		s->tier[i].max = metrics_tier_spec[i].max;
	}
	m->all[m->nall++] = s;
	metrics_insert_slot(m->slots, m->nslots, s);
	return s;
}

/* ---- public: life cycle ---------------------------------------------- */

static int view_latest(void *ctx, const char *name, double *out, size_t *nsamples);
static int view_window(void *ctx, const char *name, enum expr_fn fn, int64_t window_ms,
    double *out, size_t *nsamples);

/* Create an empty store reading time from CLK (not owned).  0 or -ENOMEM. */
int
metrics_create(struct metrics **out, struct clock *clk)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return -ENOMEM;
	m->nslots = 64;
	m->slots = calloc(m->nslots, sizeof(*m->slots));
	if (m->slots == NULL) {
		free(m);
		return -ENOMEM;
	}
	m->clk = clk;
	m->view.ctx = m;
	m->view.latest = view_latest;
	m->view.window = view_window;
	*out = m;
	return 0;
}

void
metrics_free(struct metrics *m)
{
	size_t i, j;

	if (m == NULL)
		return;
	for (i = 0; i < m->nall; i++) {
		struct metrics_series *s = m->all[i];

		free(s->raw.items);
		for (j = 0; j < METRICS_NTIERS; j++)
			free(s->tier[j].items);
		free(s->name);
		free(s->help);
		free(s);
	}
	free(m->all);
	free(m->slots);
	free(m->scratch);
	free(m);
}

/* ---- recording ------------------------------------------------------- */

/* The handle of NAME (created on first use); NULL beyond the series limit or on ENOMEM. */
struct metrics_series *
metrics_series(struct metrics *m, const char *name)
{
	return metrics_get_or_add(m, name);
}

/* Merge the closed fine bucket FB into the coarse ring R (bucket width W). */
static void
tier_fold(struct ring *r, int64_t w, const struct bucket *fb)
{
	struct bucket *b = r->len ? ring_at(r, r->len - 1) : NULL;

	if (b == NULL || fb->start >= b->start + w) {
		double cs = b ? b->cum_sum : 0;
		uint64_t cc = b ? b->cum_count : 0;
		int64_t t = fb->start;

		b = ring_push(r);
		if (b == NULL)
			return;
		b->start = t >= 0 ? t / w * w : ((t - w + 1) / w) * w;
		b->count = 0;
		b->sum = 0;
		b->min = fb->min;
		b->max = fb->max;
		b->cum_sum = cs;
		b->cum_count = cc;
	}
	b->count += fb->count;
	b->sum += fb->sum;
	b->cum_sum += fb->sum;
	b->cum_count += fb->count;
	if (fb->min < b->min)
		b->min = fb->min;
	if (fb->max > b->max)
		b->max = fb->max;
}

/* Record V at T into S.  Samples older than the newest are recorded at the newest time. */
void
metrics_series_record(struct metrics_series *s, int64_t t, double v)
{
	struct raw_sample *r;

	if (isnan(v))
		return;
	if (s->total > 0 && t < s->latest_t)
		t = s->latest_t;
	s->total++;
	s->latest = v;
	s->latest_t = t;
	s->cum += v;
	r = ring_push(&s->raw);
	if (r != NULL) {
		r->t = t;
		r->v = v;
		r->cum = s->cum;
	}
	{
		struct ring *tr = &s->tier[0];
		int64_t w = metrics_tier_spec[0].width_ms;
		struct bucket *b = tr->len ? ring_at(tr, tr->len - 1) : NULL;

		/* t never goes back, so "still in the newest bucket" is one comparison */
		if (b == NULL || t >= b->start + w) {
			int64_t start = t >= 0 ? t / w * w : ((t - w + 1) / w) * w;
			double cs = b ? b->cum_sum : 0;
			uint64_t cc = b ? b->cum_count : 0;

			if (b != NULL)
				tier_fold(&s->tier[1], metrics_tier_spec[1].width_ms, b);
			b = ring_push(tr);
			if (b == NULL)
				return;
			b->start = start;
			b->count = 0;
			b->sum = 0;
			b->min = v;
			b->max = v;
			b->cum_sum = cs;
			b->cum_count = cc;
		}
		b->count++;
		b->sum += v;
		b->cum_sum += v;
		b->cum_count++;
		if (v < b->min)
			b->min = v;
		if (v > b->max)
			b->max = v;
	}
}

void
metrics_record_at(struct metrics *m, const char *name, int64_t t_ms, double value)
{
	struct metrics_series *s = metrics_get_or_add(m, name);

	if (s == NULL) {
		m->refused++;
		return;
	}
	metrics_series_record(s, t_ms, value);
}

void
metrics_record(struct metrics *m, const char *name, double value)
{
	metrics_record_at(m, name, clock_now_ms(m->clk), value);
}

void
metrics_describe(struct metrics *m, const char *name, enum metric_type type, const char *help)
{
	struct metrics_series *s = metrics_get_or_add(m, name);

	if (s == NULL)
		return;
	s->type = type;
	if (help != NULL) {
		char *h = strdup(help);

		if (h != NULL) {
			free(s->help);
			s->help = h;
		}
	}
}

/* ---- queries --------------------------------------------------------- */

int
metrics_latest(struct metrics *m, const char *name, double *out)
{
	struct metrics_series *s = metrics_find(m, name);

	if (s == NULL || s->total == 0)
		return -ENOENT;
	*out = s->latest;
	return 0;
}

/* First logical index in the raw ring with t >= A (len when none). */
static size_t
raw_lower(const struct ring *r, int64_t a)
{
	size_t lo = 0, hi = r->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (((struct raw_sample *)ring_at(r, mid))->t < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* First logical index with t > B. */
static size_t
raw_upper(const struct ring *r, int64_t b)
{
	size_t lo = 0, hi = r->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (((struct raw_sample *)ring_at(r, mid))->t <= b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* First bucket that ends after A; first bucket starting after B. */
static size_t
tier_lower(const struct ring *r, int64_t width, int64_t a)
{
	size_t lo = 0, hi = r->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (((struct bucket *)ring_at(r, mid))->start + width <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static size_t
tier_upper(const struct ring *r, int64_t b)
{
	size_t lo = 0, hi = r->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (((struct bucket *)ring_at(r, mid))->start <= b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Quantile Q of V[0..N) (linear interpolation between closest ranks); sorts V. */
static double
quantile(double *v, size_t n, double q)
{
	double pos, frac;
	size_t lo;

	qsort(v, n, sizeof(*v), cmp_double);
	pos = q * (double)(n - 1);
	lo = (size_t)pos;
	frac = pos - (double)lo;
	if (lo + 1 >= n)
		return v[n - 1];
	return v[lo] + (v[lo + 1] - v[lo]) * frac;
}

static double *
scratch(struct metrics *m, size_t n)
{
	if (n > m->nscratch) {
		double *p = realloc(m->scratch, n * sizeof(*p));

		if (p == NULL)
			return NULL;
		m->scratch = p;
		m->nscratch = n;
	}
	return m->scratch;
}

static double
fn_quantile(enum expr_fn fn)
{
	return fn == EXPR_FN_P50 ? 0.5 : fn == EXPR_FN_P95 ? 0.95 : 0.99;
}

static int
window_raw(struct metrics *m, struct metrics_series *s, enum expr_fn fn, int64_t a, int64_t b,
    int64_t window_ms, double *out, size_t *nsamples)
{
	const struct ring *r = &s->raw;
	size_t i = raw_lower(r, a), j = raw_upper(r, b), k, n;
	struct raw_sample *first, *last;
	double acc;

	if (j <= i)
		return -ENOENT;
	n = j - i;
	*nsamples = n;
	first = ring_at(r, i);
	last = ring_at(r, j - 1);
	switch (fn) {
	case EXPR_FN_LATEST:
		*out = last->v;
		return 0;
	case EXPR_FN_SUM:
	case EXPR_FN_RATE:
	case EXPR_FN_AVG:
		acc = last->cum - (first->cum - first->v);
		*out = fn == EXPR_FN_SUM ? acc : fn == EXPR_FN_AVG ? acc / (double)n
		    : acc / ((double)window_ms / 1000.0);
		return 0;
	case EXPR_FN_COUNT:
		*out = (double)n;
		return 0;
	case EXPR_FN_MIN:
	case EXPR_FN_MAX:
		acc = first->v;
		for (k = i + 1; k < j; k++) {
			double v = ((struct raw_sample *)ring_at(r, k))->v;

			if (fn == EXPR_FN_MIN ? v < acc : v > acc)
				acc = v;
		}
		*out = acc;
		return 0;
	default: {
		double *v = scratch(m, n);

		if (v == NULL)
			return -ENOMEM;
		for (k = i; k < j; k++)
			v[k - i] = ((struct raw_sample *)ring_at(r, k))->v;
		*out = quantile(v, n, fn_quantile(fn));
		return 0;
	}
	}
}

static int
window_tier(struct metrics *m, const struct ring *r, int64_t width, const struct bucket *open,
    enum expr_fn fn, int64_t a, int64_t b, int64_t window_ms, double *out, size_t *nsamples)
{
	size_t i = tier_lower(r, width, a), j = tier_upper(r, b), k, nv = 0;
	double sum = 0, mn = 0, mx = 0, *v = NULL;
	uint64_t n = 0;

	/* OPEN: the newest fine bucket, not folded into this ring yet */
	if (open != NULL && (open->count == 0 || open->start > b))
		open = NULL;
	if (j > i) {
		struct bucket *first = ring_at(r, i), *last = ring_at(r, j - 1);

		n = last->cum_count - (first->cum_count - first->count);
		sum = last->cum_sum - (first->cum_sum - first->sum);
	}
	if (open != NULL) {
		n += open->count;
		sum += open->sum;
	}
	if (n == 0 || fn == EXPR_FN_LATEST)
		return -ENOENT;
	*nsamples = (size_t)n;
	switch (fn) {
	case EXPR_FN_SUM:
	case EXPR_FN_RATE:
	case EXPR_FN_AVG:
		*out = fn == EXPR_FN_SUM ? sum : fn == EXPR_FN_AVG ? sum / (double)n
		    : sum / ((double)window_ms / 1000.0);
		return 0;
	case EXPR_FN_COUNT:
		*out = (double)n;
		return 0;
	case EXPR_FN_MIN:
	case EXPR_FN_MAX:
		mn = open ? open->min : INFINITY;
		mx = open ? open->max : -INFINITY;
		for (k = i; k < j; k++) {
			struct bucket *bk = ring_at(r, k);

			if (bk->count == 0)
				continue;
			if (bk->min < mn)
				mn = bk->min;
			if (bk->max > mx)
				mx = bk->max;
		}
		*out = fn == EXPR_FN_MIN ? mn : mx;
		return 0;
	default:
		v = scratch(m, (j > i ? j - i : 0) + 1);
		if (v == NULL)
			return -ENOMEM;
		for (k = i; k < j; k++) {
			struct bucket *bk = ring_at(r, k);

			if (bk->count > 0)
				v[nv++] = fn == EXPR_FN_P50 ? bk->sum / (double)bk->count : bk->max;
		}
		if (open != NULL)
			v[nv++] = fn == EXPR_FN_P50 ? open->sum / (double)open->count : open->max;
		*out = quantile(v, nv, fn_quantile(fn));
		return 0;
	}
}


int
metrics_window(struct metrics *m, const char *name, enum expr_fn fn, int64_t window_ms,
    double *out, size_t *nsamples)
{
	struct metrics_series *s = metrics_find(m, name);
	int64_t b = clock_now_ms(m->clk), a = b - window_ms;
	size_t i, n = 0;
	int rc;

	if (s == NULL || s->total == 0 || window_ms <= 0)
		return -ENOENT;
	if (fn == EXPR_FN_LATEST) {
		*out = s->latest;
		*nsamples = s->total > SIZE_MAX ? SIZE_MAX : (size_t)s->total;
		return 0;
	}
	if (!s->raw.dropped || ((struct raw_sample *)ring_at(&s->raw, 0))->t < a)
		rc = window_raw(m, s, fn, a, b, window_ms, out, &n);
	else {
		rc = -ENOENT;
		for (i = 0; i < METRICS_NTIERS; i++) {
			const struct ring *r = &s->tier[i];
			int64_t w = metrics_tier_spec[i].width_ms;

			if (r->len == 0)
				continue;
			/* the finest ring that still holds the window's start; else the coarsest */
			if (!r->dropped || ((struct bucket *)ring_at(r, 0))->start + w <= a
			    || i == METRICS_NTIERS - 1) {
				rc = window_tier(m, r, w, i > 0 && s->tier[0].len ?
				    ring_at(&s->tier[0], s->tier[0].len - 1) : NULL,
				    fn, a, b, window_ms, out, &n);
				break;
			}
		}
	}
	if (rc == 0 && nsamples != NULL)
		*nsamples = n;
	return rc;
}

static int
view_latest(void *ctx, const char *name, double *out, size_t *nsamples)
{
	struct metrics *m = ctx;
	struct metrics_series *s = metrics_find(m, name);

	if (s == NULL || s->total == 0)
		return -ENOENT;
	*out = s->latest;
	*nsamples = s->total > SIZE_MAX ? SIZE_MAX : (size_t)s->total;
	return 0;
}

static int
view_window(void *ctx, const char *name, enum expr_fn fn, int64_t window_ms, double *out,
    size_t *nsamples)
{
	return metrics_window(ctx, name, fn, window_ms, out, nsamples);
}

const struct expr_metrics *
metrics_view(struct metrics *m)
{
	return &m->view;
}

static int
cmp_series(const void *a, const void *b)
{
	const struct metrics_series *x = *(struct metrics_series *const *)a;
	const struct metrics_series *y = *(struct metrics_series *const *)b;

	return strcmp(x->name, y->name);
}

void
metrics_foreach(struct metrics *m, metrics_each_fn fn, void *ctx)
{
	struct metrics_series **v;
	size_t i;

	if (m->nall == 0)
		return;
	v = malloc(m->nall * sizeof(*v));
	if (v == NULL)
		return;
	memcpy(v, m->all, m->nall * sizeof(*v));
	qsort(v, m->nall, sizeof(*v), cmp_series);
	for (i = 0; i < m->nall; i++)
		if (v[i]->total > 0)
			fn(ctx, v[i]->name, v[i]->type, v[i]->help, v[i]->latest, v[i]->total);
	free(v);
}

/* Append [t, v] to ARR, averaging groups when there are more points than MAXPOINTS. */
struct downsample {
	json_t *arr;
	size_t per_group, in_group;
	double tsum, vsum;
};

static void
ds_add(struct downsample *d, int64_t t, double v)
{
	d->tsum += (double)t;
	d->vsum += v;
	if (++d->in_group == d->per_group) {
		json_array_append_new(d->arr, json_pack("[I, f]",
		    (json_int_t)(d->tsum / (double)d->in_group), d->vsum / (double)d->in_group));
		d->in_group = 0;
		d->tsum = d->vsum = 0;
	}
}

static void
ds_flush(struct downsample *d)
{
	if (d->in_group > 0)
		json_array_append_new(d->arr, json_pack("[I, f]",
		    (json_int_t)(d->tsum / (double)d->in_group), d->vsum / (double)d->in_group));
}

json_t *
metrics_series_json(struct metrics *m, const char *name, int64_t window_ms, size_t maxpoints)
{
	struct metrics_series *s = metrics_find(m, name);
	int64_t b = clock_now_ms(m->clk), a = b - window_ms;
	struct downsample d = { 0 };
	size_t i, j, k, n;

	d.arr = json_array();
	if (d.arr == NULL || s == NULL || s->total == 0)
		return d.arr;
	if (maxpoints == 0)
		maxpoints = 1;
	if (!s->raw.dropped || ((struct raw_sample *)ring_at(&s->raw, 0))->t < a) {
		i = raw_lower(&s->raw, a);
		j = raw_upper(&s->raw, b);
		n = j > i ? j - i : 0;
		d.per_group = (n + maxpoints - 1) / maxpoints;
		if (d.per_group == 0)
			d.per_group = 1;
		for (k = i; k < j; k++) {
			struct raw_sample *r = ring_at(&s->raw, k);

			ds_add(&d, r->t, r->v);
		}
	} else {
		const struct ring *r = &s->tier[METRICS_NTIERS - 1];
		int64_t w = metrics_tier_spec[METRICS_NTIERS - 1].width_ms;

		for (k = 0; k < METRICS_NTIERS; k++) {
			if (!s->tier[k].dropped || (s->tier[k].len && ((struct bucket *)ring_at(&s->tier[k], 0))->start + metrics_tier_spec[k].width_ms <= a)) {
				r = &s->tier[k];
				w = metrics_tier_spec[k].width_ms;
				break;
			}
		}
		i = tier_lower(r, w, a);
		j = tier_upper(r, b);
		n = j > i ? j - i : 0;
		d.per_group = (n + maxpoints - 1) / maxpoints;
		if (d.per_group == 0)
			d.per_group = 1;
		for (k = i; k < j; k++) {
			struct bucket *bk = ring_at(r, k);

			ds_add(&d, bk->start, bk->sum / (double)bk->count);
		}
	}
	ds_flush(&d);
	return d.arr;
}
