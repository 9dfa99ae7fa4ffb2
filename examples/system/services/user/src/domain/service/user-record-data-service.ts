import { randomUUID } from "node:crypto";
import { InvalidUserRecordError, type UserRecord, userRecordOf } from "../model/user-record.js";
import type { UserRecordRepository } from "../repository/user-record-repository.js";
import { hashPassword, passwordMatches } from "./passwords.js";

/** The name and password do not match a user (the same answer whichever of them is wrong). */
export class WrongPasswordError extends Error {
  constructor() {
    super("wrong user name or password");
    this.name = "WrongPasswordError";
  }
}

const userNamePattern = /^[A-Za-z0-9_.-]{1,64}$/;

/** The user use cases: registering and logging in, whatever the transport. */
export class UserRecordDataService {
  constructor(private readonly repository: UserRecordRepository) {}

  /** Stores a new user with a hash of the password; UserRecordAlreadyExistsError when the name is taken. */
  async register(userName: string, password: string): Promise<UserRecord> {
    if (!userNamePattern.test(userName))
      throw new InvalidUserRecordError("user_name", "must be 1 to 64 letters, digits, '_', '.' or '-'");
    if (password.length < 3 || password.length > 128)
      throw new InvalidUserRecordError("pwd", "must be 3 to 128 characters");
    const now = new Date();
    return this.repository.create(
      userRecordOf({
        userId: randomUUID(),
        userName,
        pwd: await hashPassword(password),
        createdTime: now,
        updatedTime: now,
      }),
    );
  }

  /** The user with this name and password; WrongPasswordError otherwise. */
  async checkPassword(userName: string, password: string): Promise<UserRecord> {
    const user = await this.repository.findByUserName(userName);
    if (!user || !(await passwordMatches(password, user.pwd))) throw new WrongPasswordError();
    return user;
  }

  /** The user with this user_id, if any. */
  async find(userId: string): Promise<UserRecord | undefined> {
    return this.repository.findByUserId(userId);
  }

  /** Registers `userName` unless there is such a user: the demo's seed. True when it did. */
  async seed(userName: string, password: string): Promise<boolean> {
    if (await this.repository.findByUserName(userName)) return false;
    await this.register(userName, password);
    return true;
  }
}
