# tiny.sh — the whole pipeline in a few minutes on the committed fixtures (CI: tests/test_experiments.sh).
# Sourced by experiments/lib.sh. Everything a study needs to know about sizes lives here.
# The model (d=48) is too small for r=64, so the "high rank" of Figures 3-4, Table 6 and Table 7
# is R_HIGH=16 here. It is a plumbing check: a 70k-parameter model on 29 test items barely
# learns the task, so its accuracies say nothing about the paper (use quick or paper for that).

PROFILE_DESC="tiny: 2-layer d=48 base on data/fixtures/tiny.txt, the supersense_tiny fixture (29 test items), 2 seeds; a plumbing check, not science"
PROFILE_NOTE="tiny is a plumbing check, too small for verdicts: a 2-layer d=48 model on 29 test items"

# data (relative to the project root): the files (checksummed into the cache keys) and the
# options that point pretrain/train/eval at them
CORPUS=data/fixtures/tiny.txt
CORPUS_ARGS="--data data/fixtures/tiny.txt"
TASK=data/fixtures/supersense_tiny.tsv
TASK_ARGS="--task-file data/fixtures/supersense_tiny.tsv"

# base model (cached by a hash of these arguments and the corpus checksum)
PRETRAIN_ARGS="--profile tiny --seed 1"   # L2 NH2 C48 ctx64, 400 steps
N_LAYER=2

# every LoRA run (the study adds --targets --rank --seed; lib.sh adds --lr from the sweep)
TRAIN_ARGS="--alpha 8 --steps 150 --batch 16 --eval-seed 1"
# the full fine-tuning run of study_full.sh (adds --seed)
FULL_ARGS="--steps 150 --batch 16 --lr 3e-3 --eval-seed 1"

LR_GRID="2e-3 5e-3 1e-2 2e-2"
LR_RULE="the lr of LR_GRID with the highest dev-split rank-classification accuracy of {q,v} r=8 seed 1 (ties: the smaller lr)"

SEEDS="1 2"          # seeds of every Table 5/6 cell (two: the mean/interval path runs in CI)
FIG_SEEDS="1 2"      # Figure 3 (a rank pair per seed), Figure 4 (the seed pair), Table 7
RANKS="1 2 4 8 16"   # Table 6 ranks (the paper: 1 2 4 8 64)
R_LOW=8              # Figure 3: phi(A_r=R_LOW, A_r=R_HIGH)
R_HIGH=16
AMP_RANKS="4 16"     # Table 7 ranks (the paper: 4 64)
AMP_K=4
LAYER_DEPTH=0.5
SAT_LOW=4
SAT_MARGIN=0.01
NULL_DRAWS=200
AMP_NULL_DRAWS=50
JOBS=2               # runs trained at once (each single-threaded)
BASE_THREADS=1       # threads of the base pretraining
QLORA_TARGETS="q,v"   # QLoRA (study_qlora.sh): target sets and ranks repeated on the NF4 base
QLORA_RANKS="1 8"
# intruder dimensions (study_intruders.sh, issue 17): the default cell (top INTR_K, |cos| < INTR_EPS) and
# the random-rotation null's draws per module; reuses the rank study's {q,v} runs and study_full's runs
INTR_K=10
INTR_EPS=0.5
INTR_NULL_DRAWS=20
# the accuracy-matched comparison (Shuttleworth et al. compare at equal accuracy): full fine-tuning
# stopped after INTR_MATCH_STEPS steps (fixed here before any run, a guess at where its accuracy meets
# LoRA's), compared with the LoRA cell of the nearest accuracy, which must be within INTR_MATCH_TOL
# points or the verdict says "not measured"
INTR_MATCH_STEPS=20
INTR_MATCH_TOL=5
# rsLoRA (study_rslora.sh, issue 17): {q,v} ranks trained with α/r and α/√r (α/r: the rank study's
# runs; must include R_LOW; at most d/2 = 24)
RSLORA_RANKS="1 8 16"
# learning vs forgetting (study_forget.sh, issue 17): every run's loss on the held-out tenth of the
# pretraining fixture (`eval --task lm --data`) against the base's, on FORGET_WINDOWS fixed windows
FORGET_DATA=data/fixtures/tiny.txt
FORGET_WINDOWS=64
FORGET_RANKS="$RANKS"
