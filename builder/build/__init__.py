"""The build as a library: rpbuild.yaml and options, compatibility data, Dockerfiles, images."""
