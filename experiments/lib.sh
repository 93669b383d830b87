# lib.sh — the shell every experiments/*.sh script sources: profile loading, the cached base
# model, cached training runs, study manifests and progress lines.
#
# What it is not: science. The study scripts say WHAT is trained and analysed; this file only
# says HOW a run is cached and where its files go. POSIX sh (dash), no bashisms.
#
# Layout it maintains (all git-ignored):
#   data/cache/base-<sha16>.safetensors      the pretrained base, keyed by pretrain args + corpus sha
#   data/results/$PROFILE/runs/<run-id>/      one training run: adapter/ (or model.safetensors),
#        init/ (LoRA: the step-0 adapter, A0 and B = 0, the subspace studies' null), train_log.h5 (loss curves and the final validation metrics), run.json, config.txt,
#        config.sha, command.txt, train.log
#   data/results/$PROFILE/<study>.h5          one file per study (lorascope collect)
#   data/results/$PROFILE/work/<study>/       the raw per-analysis HDF5 files a study merges
#   plots/out/$PROFILE/                       figures (PNG + SVG)
#
# A run is redone only when its config (args + base + task checksum) changes; outputs are built
# in runs/.tmp.<id>.<pid> and renamed into place when complete, so Ctrl-C loses at most the run
# in progress. Environment: PROFILE (tiny|quick|paper), BUILD (build dir, default build),
# LSC_BIN (the program; default $BUILD/lorascope), LSC_JOBS (parallel runs), LSC_T0 (start time),
# LSC_RESULTS_ROOT / LSC_FIGS_ROOT / LSC_CACHE (default data/results, plots/out, data/cache).

set -eu

LSC_ROOT=${LSC_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$LSC_ROOT"
PROFILE=${PROFILE:-quick}
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$LSC_ROOT/$BUILD ;; esac
LSC=${LSC_BIN:-$BUILD/lorascope}
export LSC_PLOTS=${LSC_PLOTS:-$LSC_ROOT/plots}

if [ ! -f "experiments/profiles/$PROFILE.sh" ]; then
    echo "experiments: unknown PROFILE '$PROFILE' (tiny, quick or paper)" >&2
    exit 2
fi
ARCH_CLI=${ARCH:-}
FORMAT_CLI=${FORMAT:-}
. "experiments/profiles/$PROFILE.sh"
JOBS=${LSC_JOBS:-$JOBS}
# The architecture of the base (LoRA issue 13): ARCH=gpt|llama from the command line (make
# reproduce ARCH=llama), else the profile's ARCH, else gpt. A Llama base is pretrained with
# --arch llama (so it has its own cache key) and its results go to <profile>-llama; GPT runs
# keep their paths and cache keys.
ARCH=${ARCH_CLI:-${ARCH:-gpt}}
case "$ARCH" in
    gpt) PROFILE_TAG=$PROFILE ;;
    llama) PROFILE_TAG=$PROFILE-llama; PRETRAIN_ARGS="$PRETRAIN_ARGS --arch llama" ;;
    *) echo "experiments: unknown ARCH '$ARCH' (gpt or llama)" >&2; exit 2 ;;
esac
# The task's format (LoRA issue 13): FORMAT=tsv|alpaca from the command line (make reproduce
# FORMAT=alpaca), else the profile's FORMAT, else tsv. tsv: the byte-level word<TAB>label task
# (`train --task supersense`). alpaca: the same task as instruction tuning: lsc_task_files writes
# the train/dev/test records (data/supersense_alpaca.py) into the cache, keyed by the TSVs' sha, and
# TASK_ARGS becomes `--format alpaca --data TRAIN.json --valid DEV.json --task-test TEST.json`.
# The byte-level template needs ALPACA_CTX bytes of context (the longest record of the real data,
# 290 bytes, fits), so the base is pretrained with that --ctx (its own cache key) and the results
# go to <profile>[-llama]-alpaca.
ALPACA_CTX=320
FORMAT=${FORMAT_CLI:-${FORMAT:-tsv}}
case "$FORMAT" in
    tsv) TASK_FLAG="--task supersense" ;;
    alpaca) TASK_FLAG=; PROFILE_TAG=$PROFILE_TAG-alpaca; PRETRAIN_ARGS="$PRETRAIN_ARGS --ctx $ALPACA_CTX" ;;
    *) echo "experiments: unknown FORMAT '$FORMAT' (tsv or alpaca)" >&2; exit 2 ;;
esac
# The layer of the figures and of Table 7: the one whose relative depth (i+1)/N_LAYER is nearest
# LAYER_DEPTH (ties: the shallower), as the paper's layer 48 of 96 is at 0.5 (LoRA issue 12).
# Every other layer is analysed too (the all-layer summaries).
MID_LAYER=$(awk -v L="$N_LAYER" -v d="$LAYER_DEPTH" 'BEGIN { best = 0; bd = 2
    for (i = 0; i < L; i++) { e = (i + 1) / L - d; if (e < 0) e = -e; if (e < bd - 1e-9) { bd = e; best = i } }
    print best }')
LAYERS=$(awk -v L="$N_LAYER" 'BEGIN { for (i = 0; i < L; i++) printf "%s%d", i ? " " : "", i }')

# Where things go; the tests point these at a scratch directory to run from nothing.
RESULTS=${LSC_RESULTS_ROOT:-data/results}/$PROFILE_TAG
RUNS=$RESULTS/runs
WORK=$RESULTS/work
FIGS=${LSC_FIGS_ROOT:-plots/out}/$PROFILE_TAG
CACHE=${LSC_CACHE:-data/cache}
mkdir -p "$RUNS" "$WORK" "$FIGS" "$CACHE"

: "${LSC_T0:=$(date +%s)}"
export LSC_T0

# ---- small helpers ----

# The PEFT module name of attention projection T (q k v o) in layer L of the base's architecture.
lsc_mod() {
    case "$ARCH" in
        llama) printf 'model.layers.%s.self_attn.%s_proj' "$1" "$2" ;;
        *) printf 'h.%s.attn.%s_proj' "$1" "$2" ;;
    esac
}

lsc_now() { date +%s.%N | cut -c1-14; }
lsc_secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
lsc_elapsed() {
    s=$(( $(date +%s) - LSC_T0 ))
    printf '%d:%02d' $((s / 60)) $((s % 60))
}
lsc_log() { printf '[%s %s] %s\n' "$PROFILE" "$(lsc_elapsed)" "$*" >&2; }
lsc_die() { printf 'experiments: %s\n' "$*" >&2; exit "${LSC_DIE_CODE:-1}"; }
lsc_sha() { sha256sum | cut -c1-16; }                 # stdin -> 16 hex digits
lsc_sha_paths() {                                     # files or directories -> 16 hex digits
    for p in "$@"; do
        if [ -d "$p" ]; then find "$p" -type f | LC_ALL=C sort | xargs sha256sum
        else sha256sum "$p"; fi
    done | awk '{ print $1 }' | lsc_sha
}
lsc_git_commit() {
    c=$(git -C "$LSC_ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
    if [ "$c" != unknown ] && [ -n "$(git -C "$LSC_ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
        c="$c+dirty"
    fi
    printf '%s' "$c"
}
# CPU seconds (user + system) of this shell's finished children, from the output of the POSIX
# `times` builtin saved in a file (it must run in the shell itself, not in a $(...) subshell).
lsc_times_cpu() {
    awk 'NR == 2 { n = split($0, f, " "); t = 0
        for (i = 1; i <= n; i++) { v = f[i]; m = 0
            if (v ~ /m/) { m = substr(v, 1, index(v, "m") - 1); v = substr(v, index(v, "m") + 1) }
            sub(/s$/, "", v); t += m * 60 + v }
        printf "%.1f", t }' "$1"
}
lsc_threads() { echo "${OMP_NUM_THREADS:-$(nproc 2>/dev/null || echo 1)}"; }

# run id from targets, rank, seed and an optional prefix: "q,k,v,o" r=2 seed 1 -> lora-qkvo-r2-s1
# (prefix qlora -> qlora-qkvo-r2-s1)
lsc_run_id() { printf '%s-%s-r%s-s%s' "${4:-lora}" "$(echo "$1" | tr -d ,)" "$2" "$3"; }

# value of --NAME in an argument list: lsc_arg rank --targets q --rank 8 -> 8
lsc_arg() {
    want=--$1; shift
    while [ $# -gt 0 ]; do
        if [ "$1" = "$want" ] && [ $# -ge 2 ]; then printf '%s' "$2"; return 0; fi
        shift
    done
    printf ''
}

# ---- the base model (cached by config) ----

# Sets BASE (the safetensors path) and BASE_SHA; pretrains it once per config. An interrupted
# pretraining leaves its checkpoint, and the next call continues it (--resume).
lsc_base() {
    if [ -n "${BASE:-}" ]; then   # set by the parent (reproduce.sh --one); TASK_SHA too
        if [ "$FORMAT" = alpaca ]; then lsc_task_files; fi
        return 0
    fi
    for f in $CORPUS $TASK; do
        [ -e "$f" ] || lsc_die "$f is missing (run data/fetch.sh or make data)"
    done
    corpus_sha=$(lsc_sha_paths $CORPUS)
    BASE_SHA=$(printf 'pretrain %s %s corpus=%s\n' "$PRETRAIN_ARGS" "$CORPUS_ARGS" "$corpus_sha" | lsc_sha)
    BASE=$CACHE/base-$BASE_SHA.safetensors
    if [ ! -f "$BASE" ]; then
        resume=
        [ -f "$CACHE/base-$BASE_SHA.train_state.safetensors" ] && resume=--resume
        lsc_log "pretraining the base model ($PRETRAIN_ARGS) -> $BASE ${resume:+(resuming)}"
        t0=$(lsc_now)
        times >"$CACHE/.times0.$$"
        # shellcheck disable=SC2086
        # a checkpoint every BASE_CKPT_EVERY steps (the profile's), so that even a killed
        # pretraining (not only Ctrl-C) continues from the last one; it does not change the result
        ckpt=
        [ "${BASE_CKPT_EVERY:-0}" -gt 0 ] && ckpt="--ckpt-every $BASE_CKPT_EVERY"
        # a resumed pretraining appends to the log, so the progress before the interruption stays
        [ -z "$resume" ] && : >"$CACHE/base-$BASE_SHA.log"
        if ! "$LSC" pretrain $PRETRAIN_ARGS $CORPUS_ARGS --threads "${LSC_BASE_THREADS:-$BASE_THREADS}" $resume $ckpt \
                -o "$BASE" >>"$CACHE/base-$BASE_SHA.log" 2>&1; then
            tail -n 5 "$CACHE/base-$BASE_SHA.log" >&2
            lsc_die "pretraining failed (log: $CACHE/base-$BASE_SHA.log)"
        fi
        times >"$CACHE/.times1.$$"
        printf 'pretrain %s %s\ncorpus %s sha %s\nwall_seconds %s\ncpu_seconds %s\n' "$PRETRAIN_ARGS" \
            "$CORPUS_ARGS" "$CORPUS" "$corpus_sha" "$(lsc_secs "$t0" "$(lsc_now)")" \
            "$(lsc_secs "$(lsc_times_cpu "$CACHE/.times0.$$")" "$(lsc_times_cpu "$CACHE/.times1.$$")")" \
            >"$CACHE/base-$BASE_SHA.txt"
        rm -f "$CACHE/.times0.$$" "$CACHE/.times1.$$"
        rm -f "$CACHE/base-$BASE_SHA.train_state.safetensors"
        BASE_COMPUTED=1
        lsc_log "base model ready ($(lsc_secs "$t0" "$(lsc_now)") s): $(grep -o 'validation loss [0-9.]* nats/byte' "$CACHE/base-$BASE_SHA.log" | tail -n 1)"
    fi
    TASK_SHA=$(lsc_sha_paths $TASK)
    export BASE BASE_SHA TASK_SHA
    if [ "$FORMAT" = alpaca ]; then lsc_task_files; fi
}

# FORMAT=alpaca: the task's train/dev/test records in Alpaca form in $CACHE/alpaca-$TASK_SHA/
# (made once): three TSVs as they are, or one TSV split three ways by the word hash (the rule of
# train --task-file, data/wordnet_supersense.py's split_of); then TASK_ARGS points train at them.
lsc_task_files() {
    _ad=$CACHE/alpaca-$TASK_SHA
    if [ ! -f "$_ad/test.json" ]; then
        rm -rf "$_ad.tmp.$$"
        mkdir -p "$_ad.tmp.$$"
        # shellcheck disable=SC2086
        set -- $TASK
        if [ $# -eq 3 ]; then
            cp "$1" "$_ad.tmp.$$/train.tsv"; cp "$2" "$_ad.tmp.$$/dev.tsv"; cp "$3" "$_ad.tmp.$$/test.tsv"
        else
            python3 -c 'import sys; sys.path.insert(0, "data"); from wordnet_supersense import split_of
out = [open(sys.argv[2] + "/" + s + ".tsv", "w") for s in ("train", "dev", "test")]
for line in open(sys.argv[1]):
    out[split_of(line.split("\t")[0])].write(line if line.endswith("\n") else line + "\n")' \
                "$1" "$_ad.tmp.$$" || lsc_die "splitting $1 for FORMAT=alpaca failed"
        fi
        for _sp in train dev test; do
            python3 data/supersense_alpaca.py "$_ad.tmp.$$/$_sp.tsv" "$_ad.tmp.$$/$_sp.json" \
                || lsc_die "data/supersense_alpaca.py failed on $_ad.tmp.$$/$_sp.tsv"
            rm -f "$_ad.tmp.$$/$_sp.tsv"
        done
        rm -rf "$_ad"
        mv "$_ad.tmp.$$" "$_ad"
    fi
    TASK_ARGS="--format alpaca --data $_ad/train.json --valid $_ad/dev.json --task-test $_ad/test.json"
}

# ---- runs (cached by config) ----

# lsc_run ID ARGS...  — a LoRA run: `train --targets .. --rank .. --seed ..` (which evaluates
#                       the result on the validation items at the end).
# lsc_full ID ARGS... — a full fine-tuning run (train --full).
# Both set RUN_DIR. In plan mode (LSC_PLAN=FILE) they only record the run.
lsc_run()  { lsc_run_kind lora "$@"; }
lsc_full() { lsc_run_kind full "$@"; }

lsc_run_kind() {
    kind=$1; id=$2; shift 2
    RUN_DIR=$RUNS/$id
    if [ -n "${LSC_PLAN:-}" ]; then
        printf '%s\t%s\t%s\n' "$kind" "$id" "$*" >>"$LSC_PLAN"
        return 0
    fi
    lsc_base
    if [ "$kind" = full ]; then common=$FULL_ARGS; else common=$TRAIN_ARGS; fi
    # LoRA runs take the lr the sweep chose (study_lr.sh), unless they set their own (the sweep's)
    if [ "$kind" = lora ] && [ -z "$(lsc_arg lr "$@")" ]; then
        [ -f "$RESULTS/lr_selected" ] || lsc_die "run $id: no lr chosen yet ($RESULTS/lr_selected): run experiments/study_lr.sh first"
        common="$common --lr $(cat "$RESULTS/lr_selected")"
    fi
    cfg="kind=$kind base=$BASE_SHA task=$TASK_SHA args=$* $common"
    # LoRA issue 12: A0 from per-module streams, and init/ kept; train/dev/test split with
    # sampled test evaluation and rank classification; runs made before are redone
    if [ "$kind" = lora ]; then cfg="$cfg a0=module-streams"; fi
    cfg="$cfg split=train-dev-test"
    if [ "$FORMAT" = alpaca ]; then cfg="$cfg format=alpaca"; fi
    hash=$(printf '%s\n' "$cfg" | lsc_sha)
    if [ -f "$RUN_DIR/config.sha" ] && [ "$(cat "$RUN_DIR/config.sha")" = "$hash" ] \
            && [ -f "$RUN_DIR/run.json" ] && { [ "$kind" = full ] || [ -d "$RUN_DIR/init" ]; }; then
        RUN_CACHED=1
        return 0
    fi
    RUN_CACHED=0
    r_targets=$(lsc_arg targets "$@")
    r_rank=$(lsc_arg rank "$@")
    r_seed=$(lsc_arg seed "$@")
    # shellcheck disable=SC2086
    r_lr=$(lsc_arg lr "$@" $common)
    tmp=$RUNS/.tmp.$id.$$
    rm -rf "$tmp"
    mkdir -p "$tmp"
    LSC_TMP_RUN=$tmp
    t0=$(lsc_now)
    times >"$tmp/.times0"
    threads=${LSC_RUN_THREADS:-$(lsc_threads)}
    if [ "$kind" = full ]; then set -- --full "$@"; else set -- "$@" --save-init "$tmp/init"; fi
    # shellcheck disable=SC2086
    set -- --base "$BASE" $TASK_FLAG $TASK_ARGS "$@" $common --threads "$threads" -o "$tmp/out"
    printf '%s train' "$LSC" >"$tmp/command.txt"
    printf ' %s' "$@" >>"$tmp/command.txt"
    echo >>"$tmp/command.txt"
    if ! "$LSC" train "$@" >"$tmp/train.log" 2>&1; then
        tail -n 5 "$tmp/train.log" >&2
        lsc_die "run $id: training failed (log: $tmp/train.log)"
    fi
    # the run directory keeps the PEFT adapter (or the model) apart from the log, so that the
    # adapter's checksum covers only what PEFT reads; the resume checkpoint is not kept
    mv "$tmp/out/train_log.h5" "$tmp/train_log.h5"
    rm -f "$tmp/out/train_state.safetensors"
    if [ "$kind" = full ]; then
        mv "$tmp/out/model.safetensors" "$tmp/model.safetensors"
        rm -rf "$tmp/out"
        set -- --base "$tmp/model.safetensors"
    else
        mv "$tmp/out" "$tmp/adapter"
        set -- --base "$BASE" --adapter "$tmp/adapter"
    fi
    # the metrics (exact-match accuracy by greedy decoding and the label loss on the validation
    # items, beside the majority and suffix baselines) are the ones `train` computes at the end
    # and keeps in train_log.h5; `lorascope collect` reads them from there
    t2=$(lsc_now)
    times >"$tmp/.times1"
    printf '%s\n' "$cfg" >"$tmp/config.txt"
    # run.json: what lorascope collect reads besides eval.json
    {
        printf '{\n  "id": "%s",\n  "kind": "%s",\n' "$id" "$kind"
        printf '  "targets": "%s",\n' "$r_targets"
        printf '  "rank": %s,\n' "${r_rank:-0}"
        printf '  "seed": %s,\n' "${r_seed:-0}"
        printf '  "lr": %s,\n' "$r_lr"
        printf '  "config": "%s",\n' "$(printf '%s' "$cfg" | sed 's/["\\]/\\&/g')"
        printf '  "config_sha": "%s",\n  "base": "%s",\n  "task": "%s",\n' "$hash" "$BASE" "$TASK"
        printf '  "threads": %s,\n' "$threads"
        printf '  "train_seconds": %s,\n' "$(lsc_secs "$t0" "$t2")"
        printf '  "cpu_seconds": %s\n}\n' "$(lsc_secs "$(lsc_times_cpu "$tmp/.times0")" "$(lsc_times_cpu "$tmp/.times1")")"
    } >"$tmp/run.json"
    echo "$hash" >"$tmp/config.sha"
    rm -f "$tmp/.times0" "$tmp/.times1"
    rm -rf "$RUN_DIR"
    mv "$tmp" "$RUN_DIR"
    LSC_TMP_RUN=
    RUN_SECONDS=$(lsc_secs "$t0" "$t2")
}

# Removes the half-built run on Ctrl-C or kill.
# A stop file tells the other parallel runs (and xargs, through exit status 255) to stop too.
# The top-level script then waits (up to 60 s) for the runs still removing their half-built
# directories: xargs dies of the signal at once and does not wait for them itself.
lsc_on_signal() {
    if [ -n "${LSC_TMP_RUN:-}" ]; then rm -rf "$LSC_TMP_RUN"; fi
    : >"$WORK/.interrupted" 2>/dev/null
    if [ -z "${LSC_DIE_CODE:-}" ]; then lsc_wait_workers 600; fi
    if [ -z "${LSC_DIE_CODE:-}" ]; then
        printf '\nexperiments: interrupted; finished runs are kept in %s\n' "$RUNS" >&2
    fi
    exit "${LSC_DIE_CODE:-130}"
}
trap lsc_on_signal INT TERM

# lsc_wait_workers N — waits up to N tenths of a second for the parallel runs registered in
# $WORK/.workers (reproduce.sh --one) to exit.
lsc_wait_workers() {
    _n=$1
    while [ "$_n" -gt 0 ]; do
        _alive=
        for _w in "$WORK"/.workers/*; do
            [ -e "$_w" ] && kill -0 "${_w##*/}" 2>/dev/null && _alive=1
        done
        [ -z "$_alive" ] && return 0
        sleep 0.1
        _n=$((_n - 1))
    done
}

# In plan mode a study stops after declaring its runs.
lsc_plan_end() {
    if [ -n "${LSC_PLAN:-}" ]; then exit 0; fi
}

# ---- studies ----

# lsc_study_begin NAME — starts the manifest of study NAME ($MANIFEST) with its provenance.
lsc_study_begin() {
    STUDY=$1
    STUDY_T0=$(lsc_now)
    if [ -n "${LSC_PLAN:-}" ]; then MANIFEST=/dev/null; return 0; fi
    MANIFEST=$WORK/$STUDY/manifest.tsv
    mkdir -p "$WORK/$STUDY"
    lsc_base
    {
        printf '# lorascope study manifest: kind<TAB>name<TAB>value (read by lorascope collect)\n'
        printf 'attr\tstudy\t%s\n' "$STUDY"
        printf 'attr\tprofile\t%s\n' "$PROFILE"
        printf 'attr\tprofile_description\t%s\n' "$PROFILE_DESC"
        printf 'attr\tgit_commit\t%s\n' "$(lsc_git_commit)"
        printf 'attr\tstudy_script\texperiments/%s\n' "$(basename "$0")"
        printf 'attr\tstudy_script_sha256\t%s\n' "$(sha256sum "$0" | cut -d' ' -f1)"
        printf 'attr\tprofile_config\t%s\n' "$(grep -v '^#' "experiments/profiles/$PROFILE.sh" | grep . | tr '\n' ';')"
        printf 'attr\tbase_model\t%s\n' "$BASE"
        printf 'attr\tbase_config\t%s\n' "$PRETRAIN_ARGS"
        printf 'attr\tarch\t%s\n' "$ARCH"
        printf 'attr\tformat\t%s\n' "$FORMAT"
        printf 'attr\tcorpus\t%s\n' "$(echo $CORPUS)"
        printf 'attr\ttask\t%s\n' "$(echo $TASK)"
        printf 'attr\ttask_sha\t%s\n' "$TASK_SHA"
        printf 'attr\tlora_train_args\t%s\n' "$TRAIN_ARGS"
        [ "$STUDY" != lr_sweep ] && [ -f "$RESULTS/lr_selected" ] && printf 'attr\tselected_lr\t%s\n' "$(cat "$RESULTS/lr_selected")"
        printf 'attr\tlr_grid\t%s\n' "$LR_GRID"
        printf 'attr\tlr_rule\t%s\n' "$LR_RULE"
        printf 'attr\tprofile_note\t%s\n' "${PROFILE_NOTE:-}"
        printf 'attr\tn_layer\t%s\n' "$N_LAYER"
        printf 'attr\tmid_layer\t%s\n' "$MID_LAYER"
        printf 'attr\tlayer_depth\t%s\n' "$LAYER_DEPTH"
        printf 'attr\tseeds\t%s\n' "$SEEDS"
        printf 'attr\tfig_seeds\t%s\n' "$FIG_SEEDS"
        printf 'attr\tthreads\t%s\n' "${LSC_RUN_THREADS:-$(lsc_threads)}"
    } >"$MANIFEST"
}

# lsc_study_add KIND NAME VALUE — one manifest line (run, merge, phi, amp, spec, curve, ...).
lsc_study_add() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$MANIFEST"; }

# lsc_study_cell LABEL — adds the run in $RUN_DIR to cell LABEL.
lsc_study_cell() { lsc_study_add run "$1" "$RUN_DIR"; }

# Up to date when the study file exists and was made from the same manifest (runs, script,
# profile) by the same program: then `make reproduce` only rebuilds the report.
lsc_study_fresh() {
    stamp=$( { grep -v '^attr	git_commit' "$MANIFEST"
               for d in $(awk -F'\t' '$1 == "run" { print $3 }' "$MANIFEST"); do cat "$d/config.sha"; done
               sha256sum "$LSC" | cut -d' ' -f1; } | lsc_sha)
    STUDY_STAMP=$stamp
    [ -f "$RESULTS/$STUDY.h5" ] && [ -f "$WORK/$STUDY/stamp" ] && [ "$(cat "$WORK/$STUDY/stamp")" = "$stamp" ]
}

# lsc_study_end [collect options] — writes $RESULTS/$STUDY.h5 from the manifest.
lsc_study_end() {
    lsc_study_add attr analysis_seconds "$(lsc_secs "$STUDY_T0" "$(lsc_now)")"
    "$LSC" collect "$MANIFEST" -o "$RESULTS/$STUDY.h5" "$@" >"$WORK/$STUDY/collect.log" 2>&1 \
        || { cat "$WORK/$STUDY/collect.log" >&2; lsc_die "$STUDY: collect failed"; }
    echo "$STUDY_STAMP" >"$WORK/$STUDY/stamp"
    lsc_log "$STUDY: wrote $RESULTS/$STUDY.h5 ($(lsc_secs "$STUDY_T0" "$(lsc_now)") s)"
}

# lsc_plot SCRIPT.gp NAME key=value... — renders plots/SCRIPT.gp into $FIGS/NAME.{png,svg,pdf}
# (every script takes `outbase`; the other variables are the script's own, strings quoted).
lsc_plot() {
    script=$1; name=$2; shift 2
    vars="outbase='$FIGS/$name'"
    for kv in "$@"; do
        v=${kv#*=}
        case "$v" in
            nan|-nan|NaN) vars="$vars; ${kv%%=*}=NaN" ;;   # e.g. no suffix baseline (FORMAT=alpaca)
            *[!0-9.]*|'') vars="$vars; ${kv%%=*}='$(printf '%s' "$v" | sed "s/'/''/g")'" ;;
            *) vars="$vars; ${kv%%=*}=$v" ;;
        esac
    done
    if ! gnuplot -e "$vars" "plots/$script" >"$WORK/gnuplot-$name.log" 2>&1 \
            || [ ! -s "$FIGS/$name.png" ] || ! tail -c 64 "$FIGS/$name.pdf" 2>/dev/null | grep -q '%%EOF'; then
        cat "$WORK/gnuplot-$name.log" >&2
        lsc_die "gnuplot failed on plots/$script for $name"
    fi
}

# lsc_summary STUDY METRIC — one /summary value of a study file (for figure labels).
lsc_summary() {
    "$LSC" regress --print "$RESULTS/$1.h5" --metric "$2" 2>/dev/null || echo 0
}
