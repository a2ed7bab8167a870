//! Contract checks for accounts: users and the first admin, organizations and their members,
//! projects and keys of an organization, invitations, sessions and API tokens.

use sentinel_store::{
    ApiToken, IssueChange, Membership, NewApiToken, NewUser, OrgRole, Organization, SessionKind, TokenScope,
    User,
};

use super::*;

const HOUR: i64 = 3_600_000;

fn new_user(email: &str) -> NewUser {
    NewUser {
        email: email.into(),
        name: email.split('@').next().unwrap_or(email).to_owned(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt${email}"),
        is_admin: false,
    }
}

async fn user(store: &dyn Store, email: &str) -> User {
    store
        .create_user(&new_user(email), T0)
        .await
        .expect("create user")
}

async fn org(store: &dyn Store, slug: &str, owner: i64) -> Organization {
    store
        .create_organization(slug, slug, owner, T0)
        .await
        .expect("create organization")
}

fn token(name: &str, sha: &str, user_id: Option<i64>, scope: TokenScope) -> NewApiToken {
    NewApiToken {
        name: name.into(),
        token_sha256: sha.into(),
        user_id,
        scope,
    }
}

fn is_conflict<T>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(_)))
}

fn is_not_found<T>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::NotFound { .. }))
}

pub async fn users_are_created_with_unique_lower_cased_emails(store: &dyn Store) {
    assert_eq!(store.count_users().await.unwrap(), 0);
    let mut admin = new_user("Zoe@Example.COM");
    admin.is_admin = true;
    let zoe = store.create_user(&admin, T0).await.unwrap();
    assert_eq!(zoe.email, "zoe@example.com");
    assert!(zoe.is_admin);
    assert_eq!(zoe.password_hash, admin.password_hash);
    assert_eq!(zoe.created_ms, T0);
    let ann = user(store, "ann@example.com").await;
    assert!(!ann.is_admin);

    let taken = store.create_user(&new_user("ZOE@example.com"), T0).await;
    assert!(
        matches!(taken, Err(StoreError::Conflict(ref m)) if m.contains("zoe@example.com")),
        "{taken:?}"
    );
    assert_eq!(store.count_users().await.unwrap(), 2);
    assert_eq!(store.get_user(zoe.id).await.unwrap(), Some(zoe.clone()));
    assert_eq!(store.get_user(zoe.id + 100).await.unwrap(), None);
    assert_eq!(
        store.find_user_by_email("zOE@EXAMPLE.com").await.unwrap(),
        Some(zoe.clone())
    );
    assert_eq!(
        store.find_user_by_email("nobody@example.com").await.unwrap(),
        None
    );
    assert_eq!(store.list_users().await.unwrap(), vec![ann, zoe]);
}

pub async fn the_first_admin_takes_over_organizations_and_tokens_made_before_accounts(store: &dyn Store) {
    let before = project(store, "legacy").await;
    let (other, _) = store
        .create_project("ops", "pager", "other", "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f", T0)
        .await
        .unwrap();
    let instance = store
        .create_api_token(&token("ci", "aaaa", None, TokenScope::Admin), T0)
        .await
        .unwrap();
    assert_eq!(instance.user_id, None);

    // `is_admin: false` in the request does not matter: the first user runs the instance.
    let admin = store
        .create_first_admin(&new_user("Root@Example.com"), T0 + 1)
        .await
        .unwrap();
    assert!(admin.is_admin);
    assert_eq!(admin.email, "root@example.com");
    let memberships = store.user_memberships(admin.id).await.unwrap();
    let roles: Vec<(&str, OrgRole)> = memberships
        .iter()
        .map(|m| (m.organization.slug.as_str(), m.role))
        .collect();
    assert_eq!(roles, vec![("default", OrgRole::Owner), ("ops", OrgRole::Owner)]);
    let default = store.get_organization("default").await.unwrap().unwrap();
    assert_eq!(
        store
            .list_org_projects(default.id)
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect::<Vec<_>>(),
        vec![before]
    );
    assert_eq!(other.org_slug, "ops");
    assert_eq!(
        store.find_api_token("aaaa").await.unwrap().unwrap().user_id,
        Some(admin.id)
    );
    assert_eq!(
        store.list_api_tokens(admin.id).await.unwrap(),
        vec![ApiToken {
            user_id: Some(admin.id),
            ..instance
        }]
    );

    let again = store
        .create_first_admin(&new_user("second@example.com"), T0 + 2)
        .await;
    assert!(is_conflict(again), "only the very first user");
    assert_eq!(store.count_users().await.unwrap(), 1);
}

pub async fn the_first_admin_gets_a_default_organization_on_a_fresh_instance(store: &dyn Store) {
    let admin = store
        .create_first_admin(&new_user("root@example.com"), T0)
        .await
        .unwrap();
    let default = store
        .get_organization("default")
        .await
        .unwrap()
        .expect("default org");
    assert_eq!(
        store.user_memberships(admin.id).await.unwrap(),
        vec![Membership {
            organization: default.clone(),
            role: OrgRole::Owner
        }]
    );
    assert_eq!(store.list_organizations().await.unwrap(), vec![default]);
    // Not a first run any more once any user exists, admin or not.
    assert!(is_conflict(
        store.create_first_admin(&new_user("late@example.com"), T0).await
    ));
}

pub async fn a_first_admin_is_not_created_once_other_users_exist(store: &dyn Store) {
    user(store, "someone@example.com").await;
    assert!(is_conflict(
        store.create_first_admin(&new_user("root@example.com"), T0).await
    ));
    assert_eq!(store.count_users().await.unwrap(), 1);
    assert_eq!(store.get_organization("default").await.unwrap(), None);
}

pub async fn only_one_of_two_concurrent_first_admins_is_created(store: &dyn Store) {
    let (a, b) = (new_user("a@example.com"), new_user("b@example.com"));
    let (ra, rb) = tokio::join!(store.create_first_admin(&a, T0), store.create_first_admin(&b, T0));
    let winners = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1, "{ra:?} / {rb:?}");
    assert!(
        matches!(ra, Err(StoreError::Conflict(_))) || matches!(rb, Err(StoreError::Conflict(_))),
        "the loser is told why: {ra:?} / {rb:?}"
    );
    assert_eq!(store.count_users().await.unwrap(), 1);
    let default = store.get_organization("default").await.unwrap().unwrap();
    assert_eq!(store.list_members(default.id).await.unwrap().len(), 1);
}

pub async fn organizations_need_a_valid_free_slug_and_start_with_their_owner(store: &dyn Store) {
    let ann = user(store, "ann@example.com").await;
    for bad in ["", "Acme", "acme corp", "-acme", "acme-", "a--b", "äcme", "!!!"] {
        let result = store.create_organization(bad, "Acme", ann.id, T0).await;
        assert!(is_conflict(result), "slug {bad:?} is refused");
    }
    assert!(store.list_organizations().await.unwrap().is_empty());

    let acme = store
        .create_organization("acme-2", "Acme Two", ann.id, T0)
        .await
        .unwrap();
    assert_eq!((acme.slug.as_str(), acme.name.as_str()), ("acme-2", "Acme Two"));
    assert_eq!(
        store.member_role(acme.id, ann.id).await.unwrap(),
        Some(OrgRole::Owner)
    );
    let taken = store.create_organization("acme-2", "Other", ann.id, T0).await;
    assert!(
        matches!(taken, Err(StoreError::Conflict(ref m)) if m.contains("acme-2")),
        "{taken:?}"
    );
    assert!(is_not_found(
        store
            .create_organization("ghost", "Ghost", ann.id + 100, T0)
            .await
    ));
    assert_eq!(store.get_organization("ghost").await.unwrap(), None);

    let beta = org(store, "beta", ann.id).await;
    assert_eq!(
        store.list_organizations().await.unwrap(),
        vec![acme.clone(), beta.clone()]
    );
    assert_eq!(store.get_organization("beta").await.unwrap(), Some(beta.clone()));
    let renamed = store.rename_organization(acme.id, "ACME Inc.").await.unwrap();
    assert_eq!(
        renamed,
        Organization {
            name: "ACME Inc.".into(),
            ..acme.clone()
        },
        "renaming keeps the slug"
    );
    assert_eq!(store.get_organization("acme-2").await.unwrap(), Some(renamed));
    assert!(is_not_found(store.rename_organization(beta.id + 100, "x").await));
}

pub async fn members_are_added_listed_and_their_roles_changed(store: &dyn Store) {
    let owner = user(store, "owner@example.com").await;
    let bob = user(store, "bob@example.com").await;
    let acme = org(store, "acme", owner.id).await;
    let beta = org(store, "beta", owner.id).await;

    store
        .add_member(acme.id, bob.id, OrgRole::Member, T0 + 5)
        .await
        .unwrap();
    store
        .add_member(beta.id, bob.id, OrgRole::Admin, T0 + 6)
        .await
        .unwrap();
    assert_eq!(
        store.member_role(acme.id, bob.id).await.unwrap(),
        Some(OrgRole::Member)
    );
    let members = store.list_members(acme.id).await.unwrap();
    let listed: Vec<(&str, OrgRole, i64)> = members
        .iter()
        .map(|m| (m.email.as_str(), m.role, m.joined_ms))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("bob@example.com", OrgRole::Member, T0 + 5),
            ("owner@example.com", OrgRole::Owner, T0),
        ],
        "by email"
    );
    assert_eq!(members[0].user_id, bob.id);
    assert_eq!(members[0].name, "bob");
    assert_eq!(
        store.user_memberships(bob.id).await.unwrap(),
        vec![
            Membership {
                organization: acme.clone(),
                role: OrgRole::Member
            },
            Membership {
                organization: beta.clone(),
                role: OrgRole::Admin
            },
        ]
    );

    // Adding again changes the role and keeps the joining time.
    store
        .add_member(acme.id, bob.id, OrgRole::Admin, T0 + 9)
        .await
        .unwrap();
    store
        .set_member_role(beta.id, bob.id, OrgRole::Member)
        .await
        .unwrap();
    assert_eq!(
        store.member_role(acme.id, bob.id).await.unwrap(),
        Some(OrgRole::Admin)
    );
    assert_eq!(
        store.member_role(beta.id, bob.id).await.unwrap(),
        Some(OrgRole::Member)
    );
    assert_eq!(store.list_members(acme.id).await.unwrap()[0].joined_ms, T0 + 5);

    let carol = user(store, "carol@example.com").await;
    assert_eq!(store.member_role(acme.id, carol.id).await.unwrap(), None);
    assert!(is_not_found(
        store.set_member_role(acme.id, carol.id, OrgRole::Admin).await
    ));
    assert!(is_not_found(store.remove_member(acme.id, carol.id).await));
    assert!(is_not_found(
        store
            .add_member(acme.id, carol.id + 100, OrgRole::Member, T0)
            .await
    ));
    assert!(is_not_found(
        store
            .add_member(beta.id + 100, carol.id, OrgRole::Member, T0)
            .await
    ));

    store.remove_member(acme.id, bob.id).await.unwrap();
    assert_eq!(store.member_role(acme.id, bob.id).await.unwrap(), None);
    assert_eq!(store.user_memberships(bob.id).await.unwrap().len(), 1);
}

pub async fn an_organization_is_never_left_without_an_owner(store: &dyn Store) {
    let ann = user(store, "ann@example.com").await;
    let bob = user(store, "bob@example.com").await;
    let acme = org(store, "acme", ann.id).await;
    store
        .add_member(acme.id, bob.id, OrgRole::Admin, T0)
        .await
        .unwrap();

    let demote = store.set_member_role(acme.id, ann.id, OrgRole::Admin).await;
    assert!(
        matches!(demote, Err(StoreError::Conflict(ref m)) if m.contains("owner")),
        "{demote:?}"
    );
    assert!(is_conflict(store.remove_member(acme.id, ann.id).await));
    assert!(is_conflict(
        store.add_member(acme.id, ann.id, OrgRole::Member, T0).await
    ));
    assert_eq!(
        store.member_role(acme.id, ann.id).await.unwrap(),
        Some(OrgRole::Owner)
    );

    // With a second owner, either may step down, but not both.
    store
        .set_member_role(acme.id, bob.id, OrgRole::Owner)
        .await
        .unwrap();
    store
        .set_member_role(acme.id, ann.id, OrgRole::Member)
        .await
        .unwrap();
    assert!(is_conflict(store.remove_member(acme.id, bob.id).await));
    store
        .set_member_role(acme.id, ann.id, OrgRole::Owner)
        .await
        .unwrap();
    store.remove_member(acme.id, bob.id).await.unwrap();
    // Setting an owner's role to owner again changes nothing and is fine.
    store
        .set_member_role(acme.id, ann.id, OrgRole::Owner)
        .await
        .unwrap();
    assert_eq!(
        store
            .list_members(acme.id)
            .await
            .unwrap()
            .iter()
            .map(|m| (m.user_id, m.role))
            .collect::<Vec<_>>(),
        vec![(ann.id, OrgRole::Owner)]
    );
}

pub async fn two_owners_stepping_down_at_once_leave_one_owner(store: &dyn Store) {
    let ann = user(store, "ann@example.com").await;
    let bob = user(store, "bob@example.com").await;
    let acme = org(store, "acme", ann.id).await;
    store
        .add_member(acme.id, bob.id, OrgRole::Owner, T0)
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        store.set_member_role(acme.id, ann.id, OrgRole::Admin),
        store.remove_member(acme.id, bob.id)
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} / {b:?}"
    );
    let owners = store
        .list_members(acme.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.role == OrgRole::Owner)
        .count();
    assert_eq!(owners, 1);
}

pub async fn removing_a_member_unassigns_their_issues_in_that_organization_only(store: &dyn Store) {
    let ann = user(store, "ann@example.com").await;
    let bob = user(store, "bob@example.com").await;
    let acme = org(store, "acme", ann.id).await;
    let beta = org(store, "beta", ann.id).await;
    for o in [&acme, &beta] {
        store.add_member(o.id, bob.id, OrgRole::Member, T0).await.unwrap();
    }
    let (in_acme, _) = store
        .create_project("acme", "web", "other", "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", T0)
        .await
        .unwrap();
    let (in_beta, _) = store
        .create_project("beta", "web", "other", "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1", T0)
        .await
        .unwrap();
    store
        .apply_batch(&batch(vec![
            event(in_acme.id, 1, "aaaa", T0),
            event(in_acme.id, 2, "bbbb", T0),
            event(in_beta.id, 3, "aaaa", T0),
        ]))
        .await
        .unwrap();
    let mut issues = Vec::new();
    for (project_id, title) in [
        (in_acme.id, "ValueError: bad aaaa"),
        (in_acme.id, "ValueError: bad bbbb"),
        (in_beta.id, "ValueError: bad aaaa"),
    ] {
        let page = store
            .list_issues(&IssueQuery {
                project_id,
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        let issue = page.items.iter().find(|i| i.title == title).expect("issue");
        issues.push(issue.id);
    }
    let assign = |user: i64| IssueChange {
        assignee: Some(Some(user)),
        ..Default::default()
    };
    store
        .update_issue(issues[0], &assign(bob.id), Some(ann.id), T0)
        .await
        .unwrap();
    store
        .update_issue(issues[1], &assign(ann.id), Some(ann.id), T0)
        .await
        .unwrap();
    store
        .update_issue(issues[2], &assign(bob.id), Some(ann.id), T0)
        .await
        .unwrap();

    store.remove_member(acme.id, bob.id).await.unwrap();
    let assignee = |id: i64| async move { store.get_issue(id).await.unwrap().unwrap().assignee_id };
    assert_eq!(assignee(issues[0]).await, None, "bob's issue in acme");
    assert_eq!(assignee(issues[1]).await, Some(ann.id), "someone else's");
    assert_eq!(assignee(issues[2]).await, Some(bob.id), "bob is still in beta");
}

pub async fn projects_are_listed_per_organization_and_renamed_with_their_platform(store: &dyn Store) {
    let (web, _) = store
        .create_project("acme", "Web App", "other", "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1", T0)
        .await
        .unwrap();
    let (api, _) = store
        .create_project("acme", "API", "other", "c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2", T0)
        .await
        .unwrap();
    store
        .create_project(
            "beta",
            "Elsewhere",
            "other",
            "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3",
            T0,
        )
        .await
        .unwrap();
    assert_eq!(web.platform, "other");
    assert_eq!(web.org_id, api.org_id);
    let acme = store.get_organization("acme").await.unwrap().unwrap();
    assert_eq!(web.org_id, acme.id);
    assert_eq!(
        store.list_org_projects(acme.id).await.unwrap(),
        vec![api.clone(), web.clone()],
        "by slug"
    );

    let renamed = store
        .update_project(web.id, "Storefront (prod)", "javascript")
        .await
        .unwrap();
    assert_eq!(
        (
            renamed.name.as_str(),
            renamed.slug.as_str(),
            renamed.platform.as_str()
        ),
        ("Storefront (prod)", "storefront-prod", "javascript")
    );
    assert_eq!(
        (renamed.id, renamed.org_id, renamed.created_ms),
        (web.id, web.org_id, web.created_ms)
    );
    assert_eq!(store.get_project(web.id).await.unwrap(), Some(renamed.clone()));

    // Its own slug is no conflict; another project's is, but only in the same organization.
    store
        .update_project(web.id, "storefront prod", "python")
        .await
        .unwrap();
    let taken = store.update_project(web.id, "api", "python").await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    store.update_project(web.id, "Elsewhere", "python").await.unwrap();
    assert!(is_conflict(store.update_project(web.id, "???", "python").await));
    assert!(is_not_found(
        store.update_project(web.id + 100, "x", "python").await
    ));
    let now = store.get_project(web.id).await.unwrap().unwrap();
    assert_eq!(
        (now.slug.as_str(), now.platform.as_str()),
        ("elsewhere", "python")
    );
}

pub async fn keys_are_added_and_revoked_per_project(store: &dyn Store) {
    let (p, first) = store
        .create_project("acme", "web", "other", "d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1", T0)
        .await
        .unwrap();
    let (q, other) = store
        .create_project("acme", "api", "other", "d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2", T0)
        .await
        .unwrap();
    let second = store
        .create_key(p.id, "CI", "d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3", T0 + 1)
        .await
        .unwrap();
    assert_eq!(
        (
            second.project_id,
            second.label.as_str(),
            second.active,
            second.created_ms
        ),
        (p.id, "CI", true, T0 + 1)
    );
    assert_eq!(
        store.project_keys(p.id).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert!(is_conflict(
        store.create_key(q.id, "dup", &first.public_key, T0).await
    ));
    assert!(is_not_found(
        store
            .create_key(q.id + 100, "x", "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4", T0)
            .await
    ));

    let revoked = store.set_key_active(p.id, second.id, false).await.unwrap();
    assert!(!revoked.active);
    assert_eq!(store.find_key(&second.public_key).await.unwrap(), Some(revoked));
    assert!(
        is_not_found(store.set_key_active(p.id, other.id, false).await),
        "another project's key"
    );
    assert!(store.find_key(&other.public_key).await.unwrap().unwrap().active);
    assert!(store.set_key_active(p.id, second.id, true).await.unwrap().active);
}

pub async fn invitations_are_replaced_listed_accepted_once_and_expire(store: &dyn Store) {
    let ann = user(store, "ann@example.com").await;
    let bob = user(store, "bob@example.com").await;
    let acme = org(store, "acme", ann.id).await;
    let expires = T0 + 48 * HOUR;

    let first = store
        .create_invitation(
            "inv1",
            acme.id,
            "Bob@Example.com",
            OrgRole::Member,
            Some(ann.id),
            T0,
            expires,
        )
        .await
        .unwrap();
    assert_eq!(
        (
            first.org_slug.as_str(),
            first.email.as_str(),
            first.role,
            first.invited_by
        ),
        ("acme", "bob@example.com", OrgRole::Member, Some(ann.id))
    );
    assert_eq!(store.find_invitation("inv1", T0).await.unwrap(), Some(first));

    // Inviting the same address again replaces the pending invitation and its link.
    let again = store
        .create_invitation(
            "inv2",
            acme.id,
            "bob@example.com",
            OrgRole::Admin,
            None,
            T0 + 1,
            expires,
        )
        .await
        .unwrap();
    assert_eq!(store.find_invitation("inv1", T0 + 1).await.unwrap(), None);
    assert_eq!(
        store.find_invitation("inv2", T0 + 1).await.unwrap(),
        Some(again.clone())
    );
    let carol = store
        .create_invitation(
            "inv3",
            acme.id,
            "carol@example.com",
            OrgRole::Member,
            Some(ann.id),
            T0 + 2,
            expires,
        )
        .await
        .unwrap();
    let short = store
        .create_invitation(
            "inv4",
            acme.id,
            "dan@example.com",
            OrgRole::Member,
            None,
            T0 + 3,
            T0 + HOUR,
        )
        .await
        .unwrap();
    assert_eq!(
        store.list_invitations(acme.id, T0 + 10).await.unwrap(),
        vec![short, carol.clone(), again.clone()],
        "newest first"
    );
    assert_eq!(
        store.list_invitations(acme.id, T0 + HOUR).await.unwrap(),
        vec![carol.clone(), again.clone()],
        "expired ones are not pending"
    );
    assert_eq!(store.find_invitation("inv4", T0 + HOUR).await.unwrap(), None);
    assert!(is_not_found(
        store.accept_invitation("inv4", bob.id, T0 + HOUR).await
    ));
    assert!(is_not_found(
        store
            .create_invitation(
                "inv5",
                acme.id + 100,
                "x@example.com",
                OrgRole::Member,
                None,
                T0,
                expires
            )
            .await
    ));

    let joined = store.accept_invitation("inv2", bob.id, T0 + 20).await.unwrap();
    assert_eq!(
        joined,
        Membership {
            organization: acme.clone(),
            role: OrgRole::Admin
        }
    );
    assert_eq!(
        store.member_role(acme.id, bob.id).await.unwrap(),
        Some(OrgRole::Admin)
    );
    assert!(
        is_not_found(store.accept_invitation("inv2", bob.id, T0 + 21).await),
        "a link works once"
    );
    assert_eq!(store.find_invitation("inv2", T0 + 21).await.unwrap(), None);
    assert!(
        is_not_found(store.accept_invitation("inv3", bob.id + 100, T0 + 21).await),
        "an unknown user"
    );
    assert!(
        store.find_invitation("inv3", T0 + 21).await.unwrap().is_some(),
        "a failed acceptance leaves the invitation"
    );

    let other = org(store, "other", ann.id).await;
    assert!(is_not_found(store.delete_invitation(other.id, carol.id).await));
    store.delete_invitation(acme.id, carol.id).await.unwrap();
    assert!(is_not_found(store.delete_invitation(acme.id, carol.id).await));
    assert_eq!(store.find_invitation("inv3", T0 + 22).await.unwrap(), None);
}

pub async fn accepting_an_invitation_keeps_a_higher_role(store: &dyn Store) {
    let ann = user(store, "ann@example.com").await;
    let bob = user(store, "bob@example.com").await;
    let acme = org(store, "acme", ann.id).await;
    store
        .add_member(acme.id, bob.id, OrgRole::Admin, T0)
        .await
        .unwrap();
    let later = T0 + HOUR;

    store
        .create_invitation(
            "low",
            acme.id,
            "bob@example.com",
            OrgRole::Member,
            None,
            T0,
            later,
        )
        .await
        .unwrap();
    let kept = store.accept_invitation("low", bob.id, T0 + 1).await.unwrap();
    assert_eq!(kept.role, OrgRole::Admin);
    assert_eq!(
        store.member_role(acme.id, bob.id).await.unwrap(),
        Some(OrgRole::Admin)
    );

    store
        .create_invitation(
            "high",
            acme.id,
            "bob@example.com",
            OrgRole::Owner,
            None,
            T0,
            later,
        )
        .await
        .unwrap();
    let raised = store.accept_invitation("high", bob.id, T0 + 2).await.unwrap();
    assert_eq!(raised.role, OrgRole::Owner);
    assert_eq!(
        store.member_role(acme.id, bob.id).await.unwrap(),
        Some(OrgRole::Owner)
    );
}

pub async fn sessions_are_found_by_their_kind_until_they_expire(store: &dyn Store) {
    let ann = user(store, "ann@example.com").await;
    store
        .create_session("web1", SessionKind::Web, ann.id, T0, T0 + HOUR)
        .await
        .unwrap();
    let found = store
        .find_session("web1", SessionKind::Web, T0 + HOUR - 1)
        .await
        .unwrap()
        .expect("unexpired session");
    assert_eq!(
        (found.user, found.kind, found.created_ms, found.expires_ms),
        (ann.clone(), SessionKind::Web, T0, T0 + HOUR)
    );
    assert_eq!(
        store.find_session("web1", SessionKind::Access, T0).await.unwrap(),
        None,
        "a web session is no access token"
    );
    assert_eq!(
        store
            .find_session("web1", SessionKind::Web, T0 + HOUR)
            .await
            .unwrap(),
        None,
        "expired at its expiry time"
    );
    assert_eq!(
        store.find_session("nope", SessionKind::Web, T0).await.unwrap(),
        None
    );
    assert!(
        store
            .create_session("web1", SessionKind::Web, ann.id, T0, T0 + HOUR)
            .await
            .is_err(),
        "a secret is stored once"
    );

    store.delete_session("web1").await.unwrap();
    store.delete_session("web1").await.unwrap();
    assert_eq!(
        store.find_session("web1", SessionKind::Web, T0).await.unwrap(),
        None
    );
}

pub async fn a_session_is_taken_once_even_by_concurrent_callers(store: &dyn Store) {
    let ann = user(store, "ann@example.com").await;
    store
        .create_session("reset", SessionKind::Reset, ann.id, T0, T0 + HOUR)
        .await
        .unwrap();
    assert_eq!(
        store
            .take_session("reset", SessionKind::Refresh, T0)
            .await
            .unwrap(),
        None,
        "not by another kind"
    );
    assert_eq!(
        store
            .take_session("reset", SessionKind::Reset, T0 + HOUR)
            .await
            .unwrap(),
        None,
        "not once expired"
    );
    let (a, b) = tokio::join!(
        store.take_session("reset", SessionKind::Reset, T0 + 1),
        store.take_session("reset", SessionKind::Reset, T0 + 1)
    );
    let taken: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(taken.len(), 1, "exactly one caller gets it");
    assert_eq!(taken[0].user, ann);
    assert_eq!(
        (taken[0].kind, taken[0].expires_ms),
        (SessionKind::Reset, T0 + HOUR)
    );
    assert_eq!(
        store
            .find_session("reset", SessionKind::Reset, T0 + 2)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_session("reset", SessionKind::Reset, T0 + 2)
            .await
            .unwrap(),
        None
    );
}

pub async fn a_new_password_ends_every_other_session_of_the_user(store: &dyn Store) {
    let ann = user(store, "ann@example.com").await;
    let bob = user(store, "bob@example.com").await;
    let until = T0 + HOUR;
    for (sha, kind, who) in [
        ("ann-web", SessionKind::Web, ann.id),
        ("ann-web2", SessionKind::Web, ann.id),
        ("ann-refresh", SessionKind::Refresh, ann.id),
        ("ann-reset", SessionKind::Reset, ann.id),
        ("bob-web", SessionKind::Web, bob.id),
    ] {
        store.create_session(sha, kind, who, T0, until).await.unwrap();
    }
    store
        .set_password(ann.id, "$argon2id$new", Some("ann-web"))
        .await
        .unwrap();
    assert_eq!(
        store.get_user(ann.id).await.unwrap().unwrap().password_hash,
        "$argon2id$new"
    );
    let alive = |sha: &'static str, kind: SessionKind| async move {
        store.find_session(sha, kind, T0).await.unwrap().is_some()
    };
    assert!(alive("ann-web", SessionKind::Web).await, "the session kept");
    assert!(!alive("ann-web2", SessionKind::Web).await);
    assert!(!alive("ann-refresh", SessionKind::Refresh).await);
    assert!(!alive("ann-reset", SessionKind::Reset).await);
    assert!(
        alive("bob-web", SessionKind::Web).await,
        "other users' sessions stay"
    );

    store.set_password(ann.id, "$argon2id$newer", None).await.unwrap();
    assert!(!alive("ann-web", SessionKind::Web).await);
    assert!(is_not_found(store.set_password(bob.id + 100, "x", None).await));
}

pub async fn pruning_deletes_expired_sessions_and_invitations(store: &dyn Store) {
    let ann = user(store, "ann@example.com").await;
    let acme = org(store, "acme", ann.id).await;
    store
        .create_session("old", SessionKind::Access, ann.id, T0, T0 + 10)
        .await
        .unwrap();
    store
        .create_session("edge", SessionKind::Web, ann.id, T0, T0 + 20)
        .await
        .unwrap();
    store
        .create_session("new", SessionKind::Web, ann.id, T0, T0 + 30)
        .await
        .unwrap();
    store
        .create_invitation(
            "i-old",
            acme.id,
            "a@example.com",
            OrgRole::Member,
            None,
            T0,
            T0 + 5,
        )
        .await
        .unwrap();
    store
        .create_invitation(
            "i-new",
            acme.id,
            "b@example.com",
            OrgRole::Member,
            None,
            T0,
            T0 + 50,
        )
        .await
        .unwrap();

    assert_eq!(store.prune_sessions(T0 + 20).await.unwrap(), 3);
    assert_eq!(store.prune_sessions(T0 + 20).await.unwrap(), 0);
    assert!(
        store
            .find_session("new", SessionKind::Web, T0)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .find_session("edge", SessionKind::Web, T0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.find_invitation("i-new", T0).await.unwrap().is_some());
    assert!(store.find_invitation("i-old", T0).await.unwrap().is_none());
}

pub async fn api_tokens_are_listed_and_deleted_by_their_owner_only(store: &dyn Store) {
    let ann = user(store, "ann@example.com").await;
    let bob = user(store, "bob@example.com").await;
    let read = store
        .create_api_token(&token("grafana", "t-read", Some(ann.id), TokenScope::Read), T0)
        .await
        .unwrap();
    let write = store
        .create_api_token(&token("ci", "t-write", Some(ann.id), TokenScope::Write), T0 + 1)
        .await
        .unwrap();
    let bobs = store
        .create_api_token(&token("bob", "t-bob", Some(bob.id), TokenScope::Admin), T0)
        .await
        .unwrap();
    assert_eq!(
        (read.name.as_str(), read.scope, read.user_id, read.created_ms),
        ("grafana", TokenScope::Read, Some(ann.id), T0)
    );
    assert_eq!(
        store.find_api_token("t-write").await.unwrap(),
        Some(write.clone())
    );
    assert!(
        store
            .create_api_token(&token("dup", "t-read", Some(bob.id), TokenScope::Read), T0)
            .await
            .is_err(),
        "a secret is stored once"
    );
    assert_eq!(
        store.list_api_tokens(ann.id).await.unwrap(),
        vec![write.clone(), read.clone()],
        "newest first"
    );

    assert!(is_not_found(store.delete_api_token(bob.id, read.id).await));
    assert!(store.find_api_token("t-read").await.unwrap().is_some());
    store.delete_api_token(ann.id, read.id).await.unwrap();
    assert!(is_not_found(store.delete_api_token(ann.id, read.id).await));
    assert_eq!(store.find_api_token("t-read").await.unwrap(), None);
    assert_eq!(store.list_api_tokens(ann.id).await.unwrap(), vec![write]);
    assert_eq!(store.list_api_tokens(bob.id).await.unwrap(), vec![bobs]);
}

/// Account rows for the transfer checks, after the projects of organization `default` exist: an
/// instance token taken over by the first admin, a second user who is a member with a token of
/// their own, a pending invitation and a session.
pub(crate) async fn populate_accounts(store: &dyn Store) {
    store
        .create_api_token(&token("ci", "deadbeef", None, TokenScope::Admin), T0)
        .await
        .unwrap();
    let admin = store
        .create_first_admin(&new_user("root@example.com"), T0)
        .await
        .unwrap();
    let bob = user(store, "bob@example.com").await;
    let default = store.get_organization("default").await.unwrap().unwrap();
    store
        .add_member(default.id, bob.id, OrgRole::Member, T0)
        .await
        .unwrap();
    store
        .create_api_token(&token("bob", "b0b", Some(bob.id), TokenScope::Read), T0)
        .await
        .unwrap();
    store
        .create_invitation(
            "invite",
            default.id,
            "carol@example.com",
            OrgRole::Admin,
            Some(admin.id),
            T0,
            T0 + 365 * DAY_MS,
        )
        .await
        .unwrap();
    store
        .create_session("session", SessionKind::Web, admin.id, T0, T0 + 365 * DAY_MS)
        .await
        .unwrap();
}
