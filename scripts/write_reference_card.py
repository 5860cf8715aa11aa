"""Copy a finished run's model card into the repository's model_cards/ folder, rendered for its Hub
repository, so a reader of the sources sees what that reference model's Hub page shows.

    python scripts/write_reference_card.py outputs/simclr-default --repo_id hf-contrastive/simclr-mnist-digits

writes model_cards/<name>.md (and <name>_training_loss.png beside it). The card templates live in
the package (hf_contrastive/model_cards/, so a wheel carries them); this folder holds cards
generated from real runs with them.
"""

import argparse
import shutil
from pathlib import Path

from hf_contrastive.hub import LOSS_CURVE, render_model_card, write_model_card

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir", help="a finished training run's folder")
    parser.add_argument("--repo_id", required=True, help="the Hub repository the card is rendered for")
    args = parser.parse_args()
    folder = Path(args.output_dir)
    name = args.repo_id.split("/")[-1]
    write_model_card(str(folder))  # (re)draws the loss curve from training_log.jsonl
    card = str(render_model_card(str(folder), repo_id=args.repo_id, model_name=name))
    target = REPO / "model_cards"
    target.mkdir(exist_ok=True)
    if (folder / LOSS_CURVE).exists():
        shutil.copyfile(folder / LOSS_CURVE, target / f"{name}_{LOSS_CURVE}")
        card = card.replace(f"]({LOSS_CURVE})", f"]({name}_{LOSS_CURVE})")
    (target / f"{name}.md").write_text(card)
    print(f"wrote {target / f'{name}.md'}")


if __name__ == "__main__":
    main()
