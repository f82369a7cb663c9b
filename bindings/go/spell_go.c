// The C half of the callback registration declared in spell_go.h. cgo's exports take non-const
// pointers, hence the casts to Spell's callback types.
#include "spell_go.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "_cgo_export.h"

static spell_meter_t go_meter(uintptr_t handle, bool observe) {
  spell_meter_t m = {(void *)handle, (spell_authorize_fn)spellGoAuthorize, (spell_record_fn)spellGoRecord,
                     observe ? (spell_observe_fn)spellGoObserve : NULL, spellGoFinalize};
  return m;
}

spell_error_t *spell_go_config_meter(spell_config_t *config, uintptr_t handle, bool observe) {
  spell_meter_t m = go_meter(handle, observe);
  return spell_config_meter(config, &m);
}

spell_error_t *spell_go_request_meter(spell_request_t *request, uintptr_t handle, bool observe) {
  spell_meter_t m = go_meter(handle, observe);
  return spell_request_meter(request, &m);
}

spell_error_t *spell_go_request_on_output(spell_request_t *request, uintptr_t handle) {
  return spell_request_on_output(request, (spell_output_fn)spellGoOutput, (void *)handle, spellGoFinalize);
}

spell_error_t *spell_go_config_host_function(spell_config_t *config, const char *module, size_t module_len,
                                             const char *name, size_t name_len, const spell_valkind_t *params,
                                             size_t nparams, const spell_valkind_t *results, size_t nresults,
                                             uintptr_t handle) {
  return spell_config_host_function(config, module, module_len, name, name_len, params, nparams, results, nresults,
                                    (spell_host_fn)spellGoHostCall, (void *)handle, spellGoFinalize);
}

// The cast pool: threads are started on demand, one per cast running at once, and then wait for
// more work (so each keeps its tokio executor and its Go extra M) until they have been idle for
// pool_idle_ms: a burst of concurrent casts does not keep its threads for good. The
// caller waits on a condition variable; its goroutine's P stays free for the callbacks the cast
// makes meanwhile only if another P is idle, so callbacks may wait for the Go scheduler to take
// a P back from a waiting caller when every P is busy.
typedef struct cast_job {
  const spell_t *spell;
  const spell_request_t *request;
  spell_outcome_t **out;
  spell_error_t *err;
  int done;
  struct cast_job *next;
} cast_job;

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_work = PTHREAD_COND_INITIALIZER;  // a job was queued
static pthread_cond_t pool_done = PTHREAD_COND_INITIALIZER;  // a job finished
static cast_job *queue_head, *queue_tail;
static size_t workers, idle_workers, queued_jobs;
static long pool_idle_ms = 30000;

void spell_go_pool_idle_timeout(long ms) {
  pthread_mutex_lock(&pool_mu);
  pool_idle_ms = ms;
  pthread_mutex_unlock(&pool_mu);
}

static void *pool_worker(void *unused) {
  (void)unused;
  pthread_mutex_lock(&pool_mu);
  for (;;) {
    while (!queue_head) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += pool_idle_ms / 1000;
      until.tv_nsec += (pool_idle_ms % 1000) * 1000000L;
      if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
      }
      idle_workers++;
      int rc = pthread_cond_timedwait(&pool_work, &pool_mu, &until);
      idle_workers--;
      // A job queued as the wait timed out is still taken: the loop checks the queue first.
      if (rc == ETIMEDOUT && !queue_head) {
        workers--;
        pthread_mutex_unlock(&pool_mu);
        return NULL;
      }
    }
    cast_job *job = queue_head;
    queue_head = job->next;
    if (!queue_head) queue_tail = NULL;
    queued_jobs--;
    pthread_mutex_unlock(&pool_mu);
    spell_error_t *err = spell_cast(job->spell, job->request, job->out);
    pthread_mutex_lock(&pool_mu);
    job->err = err;
    job->done = 1;
    pthread_cond_broadcast(&pool_done);
  }
  return NULL;
}

spell_error_t *spell_go_cast_on_pool(const spell_t *spell, const spell_request_t *request, spell_outcome_t **out) {
  cast_job job = {spell, request, out, NULL, 0, NULL};
  pthread_mutex_lock(&pool_mu);
  if (queue_tail) queue_tail->next = &job;
  else queue_head = &job;
  queue_tail = &job;
  queued_jobs++;
  if (idle_workers >= queued_jobs) {
    pthread_cond_signal(&pool_work);
  } else {
    pthread_t t;
    if (pthread_create(&t, NULL, pool_worker, NULL) == 0) {
      pthread_detach(t);
      workers++;
    } else if (workers == 0) {
      // No thread can take the job, the only one queued: take it back and fail.
      queue_head = queue_tail = NULL;
      queued_jobs = 0;
      pthread_mutex_unlock(&pool_mu);
      static const char msg[] = "could not start a thread to cast on";
      return spell_error_new(msg, sizeof msg - 1);
    }
    // Otherwise a busy worker takes the job when its cast ends.
  }
  while (!job.done) pthread_cond_wait(&pool_done, &pool_mu);
  pthread_mutex_unlock(&pool_mu);
  return job.err;
}
