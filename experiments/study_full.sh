#!/bin/sh
# study_full.sh — LoRA against full fine-tuning. One full fine-tuning run (every weight trainable)
# on the same task; its accuracy beside the LoRA cells, and the singular spectrum of
# ΔW = W_ft - W_0 for every attention and MLP weight (`lorascope deltaspec`: effective rank, rank90,
# stable rank) beside the spectra of the LoRA updates at r=8 and r=$R_HIGH on Wq,Wk,Wv,Wo
# (`lorascope spectrum`). Biderman et al. 2024: full fine-tuning learns updates of much higher rank.
# Seeds: every seed of $SEEDS for the accuracy cells; the spectra and curves of the first.
# Output: data/results/$PROFILE/lora_vs_full.h5 (/full, /lora_r8, /lora_r$R_HIGH; /summary),
# figures full_spectra, training_curves.
. "$(dirname "$0")/lib.sh"

seed=${SEEDS%% *}
lsc_study_begin lora_vs_full
# every seed of $SEEDS (the cells' mean and interval); the spectra and curves use the first
for s in $SEEDS; do
    lsc_full "full-s$s" --seed "$s"
    lsc_study_cell full
    [ "$s" = "$seed" ] && full=$RUN_DIR
    lsc_run "$(lsc_run_id q,k,v,o 8 "$s")" --targets q,k,v,o --rank 8 --seed "$s"
    lsc_study_cell qkvo_r8
    [ "$s" = "$seed" ] && lo8=$RUN_DIR
    lsc_run "$(lsc_run_id q,k,v,o "$R_HIGH" "$s")" --targets q,k,v,o --rank "$R_HIGH" --seed "$s"
    lsc_study_cell "qkvo_r$R_HIGH"
    [ "$s" = "$seed" ] && lohi=$RUN_DIR
done
lsc_plan_end

W=$WORK/lora_vs_full
lsc_study_add merge full "$W/deltaspec_full.h5"
lsc_study_add merge lora_r8 "$W/spectrum_r8.h5"
lsc_study_add merge "lora_r$R_HIGH" "$W/spectrum_r$R_HIGH.h5"
for t in q k v o; do
    m=$(lsc_mod $MID_LAYER $t)
    lsc_study_add spec "full.$t" "/full/modules/$m"
    lsc_study_add spec "lora_r8.$t" "/lora_r8/modules/$m"
    lsc_study_add spec "lora_r$R_HIGH.$t" "/lora_r$R_HIGH/modules/$m"
done
lsc_study_add curve "full fine-tuning" "$full"
lsc_study_add curve "LoRA r=8" "$lo8"
lsc_study_add curve "LoRA r=$R_HIGH" "$lohi"
if lsc_study_fresh; then
    lsc_log "lora_vs_full: up to date"
else
    "$LSC" deltaspec --base "$BASE" --finetuned "$full/model.safetensors" -o "$W/deltaspec_full.h5" \
        >"$W/deltaspec.log" 2>&1 || { cat "$W/deltaspec.log" >&2; lsc_die "lora_vs_full: deltaspec failed"; }
    for rr in "8:$lo8" "$R_HIGH:$lohi"; do
        "$LSC" spectrum "${rr#*:}/adapter" -o "$W/spectrum_r${rr%%:*}.h5" >"$W/spectrum.log" 2>&1 \
            || { cat "$W/spectrum.log" >&2; lsc_die "lora_vs_full: spectrum failed"; }
    done
    lsc_study_end --spec-dat "$W" --curves "$W/curves.dat"
fi
lsc_plot study_spectra.gp full_spectra dir="$W" layer="$MID_LAYER" rhigh="$R_HIGH" \
    title="Singular values of ΔW, layer $MID_LAYER: full fine-tuning vs LoRA" footnote="profile $PROFILE"
lsc_plot study_curves.gp training_curves data="$W/curves.dat" \
    title="Training loss: full fine-tuning vs LoRA on Wq,Wk,Wv,Wo" footnote="profile $PROFILE"
