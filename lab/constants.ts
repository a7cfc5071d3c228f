/**
 * The lab's own constants (lab/constants.json, which lab/hosts.sh reads too): the private
 * Docker engine's socket, the SSH key and options for reaching the hosts, the bridge's addresses.
 */
import * as path from "node:path";
import constants from "./constants.json";

const ROOT = path.resolve(__dirname, "..");

/** The lab's private Docker engine, which runs the hosts. */
export const LAB_DOCKER_SOCKET = constants.dockerSocket;
/** `docker` CLI arguments that reach it. */
export const LAB_DOCKER = ["-H", `unix://${constants.dockerSocket}`];
/** The SSH key every lab host trusts (made by lab/hosts.sh up). */
export const LAB_KEY = path.join(ROOT, constants.sshKey);
/** The system ssh's options for the lab's hosts: their keys change whenever a host is re-created. */
export const LAB_SSH_OPTIONS = ["-i", LAB_KEY, ...constants.sshOptions];
export const LAB_SUBNET = constants.subnet;
export const LAB_GATEWAY = constants.gateway;
export const LAB_VIP = constants.vip;
