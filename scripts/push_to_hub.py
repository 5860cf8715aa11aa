"""Upload a trained output folder to the Hugging Face Hub, with a model card written for the repository.

    python scripts/push_to_hub.py outputs/simclr-default --repo_id you/simclr-mnist-digits
    python scripts/push_to_hub.py outputs/clear-default --repo_id your-org/clear-bbc --private --revision v1

The token comes from HF_TOKEN or `hf auth login` (prefer those to --token: a command line is
visible to other users of the machine). Checkpoints, tensorboard logs and the per-step log are not
uploaded; the local folder is only read. HF_ENDPOINT selects another Hub.
"""

import argparse
import sys

from hf_contrastive.hub import HubPushError, push_to_hub


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output_dir", help="A folder written by scripts/train.py.")
    parser.add_argument("--repo_id", required=True, help="'user/name', 'org/name', or 'name' for the token's user.")
    parser.add_argument("--private", action="store_true", help="Create the repository as private.")
    parser.add_argument("--revision", default=None, help="Branch to commit to, created if needed (default: main).")
    parser.add_argument("--commit_message", default=None, help="Commit message (default: 'Upload <model> model ...').")
    parser.add_argument("--token", default=None, help="Hub token with write access (default: HF_TOKEN or the login).")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_arguments(sys.argv[1:])
    try:
        commit = push_to_hub(
            args.output_dir, args.repo_id, private=args.private or None, revision=args.revision,
            token=args.token, commit_message=args.commit_message,
        )  # fmt: skip
    except (HubPushError, FileNotFoundError, ValueError) as error:
        sys.exit(f"push_to_hub.py: {error}")
    print(f"Pushed {args.output_dir} to {commit.repo_url.url}: {commit.commit_url}")


if __name__ == "__main__":
    main()
