# quick.sh — the default of `make reproduce`: every study on the real corpus and the WordNet
# supersense task, sized to finish in under 15 minutes of compute on 2 cores once the data exist.
# One seed per cell (the spread over seeds needs the paper profile); Figure 4 uses two seeds.

PROFILE_DESC="quick: 4-layer d=128 base (600 steps) on the 13.6 MB corpus; LoRA runs of 400 steps on WordNet supersense, accuracy on 500 validation words; 1 seed per cell"

# data: what data/fetch.sh makes (the defaults of pretrain/train/eval)
CORPUS="data/corpus/pretrain_train.txt data/corpus/pretrain_valid.txt"
CORPUS_ARGS=
TASK="data/tasks/supersense_train.tsv data/tasks/supersense_valid.tsv"
TASK_ARGS=

PRETRAIN_ARGS="--profile quick --seed 1"   # L4 NH4 C128 ctx128, 600 steps of 16 x 128 bytes

# every LoRA run (the study adds --targets --rank --seed). alpha is constant in r, as in the paper.
# The final accuracy is measured on the first 500 of the 2,625 validation words (sd ~2 points).
TRAIN_ARGS="--alpha 8 --steps 400 --batch 32 --lr 5e-3 --eval-limit 500 --eval-batches 4"
# the full fine-tuning run of study_full.sh (adds --seed)
FULL_ARGS="--steps 400 --batch 32 --lr 1e-3 --eval-limit 500 --eval-batches 4"

SEEDS="1"
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
