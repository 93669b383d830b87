# quick.sh — the default of `make reproduce`: every study on the real corpus and the WordNet
# supersense task, sized to finish in under 15 minutes on 2 cores once the data exist. A smoke run:
# one seed per table cell and a d=128 base (r=64 is half of d), so its verdicts are not evidence
# (the report says so in its first line); the paper profile is the one whose verdicts count.

PROFILE_DESC="quick: 4-layer d=128 base (800 steps) on the 13.6 MB corpus; LoRA runs of 300 steps on WordNet supersense (train split), lr chosen on the dev split, accuracy on a seeded sample of 500 test words; 1 seed per cell"
# printed as the report's first line
PROFILE_NOTE="quick is a smoke run, too small for verdicts: one seed per cell, d=128 with r=64 (r/d = 1/2); run PROFILE=paper for the verdicts that count"

# data: what data/fetch.sh makes (the defaults of pretrain/train/eval)
CORPUS="data/corpus/pretrain_train.txt data/corpus/pretrain_valid.txt"
CORPUS_ARGS=
TASK="data/tasks/supersense_train.tsv data/tasks/supersense_dev.tsv data/tasks/supersense_test.tsv"
TASK_ARGS=

PRETRAIN_ARGS="--profile quick --seed 1 --steps 800"   # L4 NH4 C128 ctx128, 800 steps of 16 x 128 bytes
N_LAYER=4            # layers of that base (the layer at LAYER_DEPTH is derived from it)

# every LoRA run (the study adds --targets --rank --seed; lib.sh adds --lr from the sweep).
# alpha is constant in r, as in the paper. Accuracy on a seeded sample of the test split (the
# same words for every run), greedy exact match and rank classification.
TRAIN_ARGS="--alpha 8 --steps 300 --batch 32 --eval-sample 500 --eval-seed 1 --eval-batches 4"
# the full fine-tuning run of study_full.sh (adds --seed); its lr is fixed, not swept
FULL_ARGS="--steps 300 --batch 32 --lr 1e-3 --eval-sample 500 --eval-seed 1 --eval-batches 4"

# the learning rate: written here before any run, chosen by study_lr.sh with this rule
LR_GRID="2e-3 5e-3 1e-2 2e-2"
LR_RULE="the lr of LR_GRID with the highest dev-split rank-classification accuracy of {q,v} r=8 seed 1 (ties: the smaller lr)"

SEEDS="1"            # seeds of every Table 5/6 cell
FIG_SEEDS="1 2"      # Figure 3 (one rank pair per seed), Figure 4 (every pair of seeds), Table 7
RANKS="1 2 4 8 64"
R_LOW=8
R_HIGH=64
AMP_RANKS="4 64"
AMP_K=4              # Table 7 with K fixed across ranks (the null comparison)
LAYER_DEPTH=0.5      # the figures' layer: relative depth (layer i of L is at (i+1)/L); the paper's 48 of 96
SAT_LOW=4            # Table 6 saturation: r=SAT_LOW against r=R_HIGH, TOST
SAT_MARGIN=0.01      # equivalence margin (accuracy, 1 point)
NULL_DRAWS=1000      # Haar-random draws of the phi null
AMP_NULL_DRAWS=200   # random-ΔW draws of the Table 7 null
JOBS=2               # runs trained at once (each single-threaded)
BASE_THREADS=2       # threads of the base pretraining
BASE_CKPT_EVERY=200   # base checkpoint interval (steps): a killed pretraining resumes from it
QLORA_TARGETS="q,v"  # QLoRA (study_qlora.sh): target sets and ranks repeated on the NF4 base
QLORA_RANKS="1 8 64"
# intruder dimensions (study_intruders.sh, issue 17): the default cell (top INTR_K, |cos| < INTR_EPS) and
# the random-rotation null's draws per module; reuses the rank study's {q,v} runs and study_full's runs
INTR_K=10
INTR_EPS=0.5
INTR_NULL_DRAWS=50
# the accuracy-matched comparison (Shuttleworth et al. compare at equal accuracy): full fine-tuning
# stopped after INTR_MATCH_STEPS steps (fixed here before any run, a guess at where its accuracy meets
# LoRA's), compared with the LoRA cell of the nearest accuracy, which must be within INTR_MATCH_TOL
# points or the verdict says "not measured"
INTR_MATCH_STEPS=40
INTR_MATCH_TOL=5
# rsLoRA (study_rslora.sh, issue 17): {q,v} ranks trained with α/r and α/√r, up to d/2 = 64
# (α/r at 1 2 4 8 64: the rank study's runs; must include R_LOW)
RSLORA_RANKS="1 2 4 8 16 32 64"
# learning vs forgetting (study_forget.sh, issue 17): every run's loss on the base's held-out
# pretraining text (data/corpus/pretrain_valid.txt, `eval --task lm --data`) against the base's,
# on FORGET_WINDOWS fixed windows
FORGET_DATA=data/corpus
FORGET_WINDOWS=256
FORGET_RANKS="$RANKS"
