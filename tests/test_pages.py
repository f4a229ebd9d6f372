"""Every page answers, with the right status for each kind of visitor."""


def test_home_for_anonymous_visitor(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "Your demand, your rules." in response.text


def test_dashboard_lists_my_groups(client, auth, make):
    user = auth.login()
    group = make.group(admin=user, name="Bilbao Energy")
    response = client.get("/")
    assert group.name in response.text
