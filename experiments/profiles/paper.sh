# paper.sh — the real reproduction: the `paper` base model (d>=256), every Table 5/6 cell with
# two seeds (mean and spread), Figures 3-4, Table 7 and LoRA vs full fine-tuning.

PROFILE_DESC="paper: 4-layer d=256 base (2000 steps) on the 13.6 MB corpus; LoRA runs of 800 steps on WordNet supersense, accuracy on all 2,625 validation words; 2 seeds per Table 5/6 cell"

# data: what data/fetch.sh makes (the defaults of pretrain/train/eval)
CORPUS="data/corpus/pretrain_train.txt data/corpus/pretrain_valid.txt"
CORPUS_ARGS=
TASK="data/tasks/supersense_train.tsv data/tasks/supersense_valid.tsv"
TASK_ARGS=

PRETRAIN_ARGS="--profile paper --seed 1"   # L4 NH4 C256 ctx128, 2000 steps of 16 x 128 bytes

# every LoRA run (the study adds --targets --rank --seed). alpha is constant in r, as in the paper.
# The final accuracy is measured on all 2,625 validation words.
TRAIN_ARGS="--alpha 8 --steps 800 --batch 32 --lr 5e-3 --eval-batches 8"
# the full fine-tuning run of study_full.sh (adds --seed)
FULL_ARGS="--steps 800 --batch 32 --lr 1e-3 --eval-batches 8"

SEEDS="1 2"
SEED_PAIR="1 2"
RANKS="1 2 4 8 64"
R_LOW=8
R_HIGH=64
AMP_RANKS="4 64"
MID_LAYER=2
JOBS=2               # runs trained at once (each single-threaded)
BASE_THREADS=2       # threads of the base pretraining
QLORA_TARGETS="q,v q,k,v,o"   # QLoRA (study_qlora.sh): target sets and ranks repeated on the NF4 base
QLORA_RANKS="1 8 64"
QLORA_SEEDS="1"
