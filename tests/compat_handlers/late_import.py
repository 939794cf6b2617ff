"""``start`` inside ``main()`` after a late ``import runpod``, with the worker's own flags."""

import argparse

MODEL = {"name": None}


def handler(job):
    return {"model": MODEL["name"], "echo": job["input"], "refresh_worker": True}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="base")
    args, _ = parser.parse_known_args()
    MODEL["name"] = args.model

    import runpod

    runpod.serverless.start({"handler": handler, "refresh_worker": True})


if __name__ == "__main__":
    main()
